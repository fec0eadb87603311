"""DNS generation: seeded initial conditions → warm-up → trajectory → store.

For each sample batch of a split:

1. sample ``i`` of split ``s`` draws its initial condition from
   ``fold_in(fold_in(PRNGKey(seed), SPLIT_STREAMS[s]), i)`` on the fine grid,
   or on the warm-up grid when the preset has one
   (:func:`neuralpde.store.presets.initial_key`: the splits never share an
   initial condition, and the data do not depend on the batch size or on the
   number of devices);
2. the batch is integrated for ``warmup`` time units (``round(warmup/dt)``
   model steps of ``inner_steps`` fine steps each) and discarded.  With a
   coarse warm-up grid (``Preset.warmup_size``), the finite-volume DNS on that
   grid integrates it up to ``refine_time`` before t = 0; the state is then
   refined to the reference grid (:func:`refine_velocity`) and the reference
   integrates the rest;
   (with a ``history`` of H frames, the last H − 1 warm-up model steps are
   recorded on the model grid, ending at t = 0); the kinetic energy and
   enstrophy of each sample at the end of the warm-up (on the fine grid) are
   stored as ``energy_t0``, ``enstrophy_t0``;
3. frames are recorded every ``save_every`` model steps, downsampled to the
   model grid by staggered face averaging, and written to the store one
   ``time_chunk`` block at a time.

The reference (``Preset.reference_solver``) is jax-cfd's finite-volume DNS
(``'fv'``, the published protocol's: state ``(2, N, N)`` face values) or its
pseudo-spectral solver (``'spectral'``: state ``(omega_hat, mean)``, observed
as the face averages of its band-limited field,
:func:`neuralpde.physics.spectral.spectral_to_staggered`, exactly what face
averaging of a finer FV field gives).

Every block is checked before it is written: the first non-finite value stops
the generation with :class:`~neuralpde.store.schema.StoreError` naming the
split, sample and time; the store is left incomplete with its ``failed`` attr
set, so nothing reads it, the same command refuses at once, and a command with
another configuration replaces it.  Every split's plan is checked before the
first one is generated.

The batch is ``vmap``-ed and sharded over all local devices.  After every
block, the fine state is saved in the store's :class:`~neuralpde.store.schema.ResumeLog`,
so a killed run restarts from the last block; since every block runs the same
compiled function on the same input, the resumed store equals an
uninterrupted one bit for bit (on the same machine).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import warnings
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from neuralpde import provenance
from neuralpde.config import ConfigError, to_dict
from neuralpde.interrupts import Interrupted, requested_signal, safe_points, stop_requested
from neuralpde.outputs import exclusive
from neuralpde.physics import dns, spectral
from neuralpde.physics.diagnostics import enstrophy, kinetic_energy, vorticity
from neuralpde.physics.flows import flow_name
from neuralpde.progress import progress_bar
from neuralpde.sharding import barrier, batch_mesh, batch_sharding, padded_batch, shard_batch
from neuralpde.store import schema as store
from neuralpde.store.presets import SPLIT_STREAMS, Preset, split_key

#: How sample keys derive from (seed, split, sample): recorded in the generation key.
SEED_STREAMS = "fold_in(fold_in(PRNGKey(seed), SPLIT_STREAMS[split]), sample)"

SOLVER_DESCRIPTION = ("jax-cfd 0.2.1 finite volume on a staggered grid: van Leer advection, "
                      "forward Euler, fast-diagonalisation pressure projection")
SPECTRAL_DESCRIPTION = ("jax-cfd 0.2.1 pseudo-spectral vorticity equation: 2/3-rule dealiasing, "
                        "Crank-Nicolson RK4")


@dataclasses.dataclass(frozen=True)
class SplitPlan:
    """The step counts of one split, derived from a preset."""

    dt_model: float
    inner_steps: int
    warmup_steps: int  # model steps
    n_frames: int
    save_every: int
    history: int = 0
    coarse_steps: int = 0  # model steps of the warm-up on the coarse warm-up grid
    warmup_inner_steps: int = 0

    @property
    def frame_dt(self) -> float:
        return self.save_every * self.dt_model

    @property
    def model_steps(self) -> int:
        """Model steps integrated per sample (warm-up + trajectory)."""
        return self.warmup_steps + (self.n_frames - 1) * self.save_every


def plan_split(preset: Preset, split: str) -> SplitPlan:
    spec = preset.split(split)
    dt = preset.dt_model
    for name, value in (("duration", spec.duration), ("warmup", spec.warmup)):
        if value / dt > 1e9:
            raise ConfigError(f"invalid {name}={value:g} for the {split} split: accepted at most "
                              f"{1e9 * dt:.3g} time units (1e9 model steps of {dt:.4g})")
    warmup_steps = round(spec.warmup / dt)
    if spec.history > warmup_steps + 1:
        raise ConfigError(f"invalid history={spec.history} for the {split} split: accepted at most "
                          f"warm-up steps + 1 = {warmup_steps + 1} (warmup={spec.warmup:g}, "
                          f"dt={dt:.6g})")
    coarse_steps = 0
    if preset.warmup_size:
        # the reference integrates the last refine_time of the warm-up (all of a shorter one)
        refine_steps = min(round(preset.refine_time / dt), warmup_steps)
        if spec.history > refine_steps + 1:
            raise ConfigError(
                f"invalid refine_time={preset.refine_time:g} for the {split} split: accepted at "
                f"least the history window, (history - 1) x dt = {(spec.history - 1) * dt:.4g} "
                "time units (the history is recorded on the reference grid)")
        coarse_steps = warmup_steps - refine_steps
    return SplitPlan(
        dt_model=dt,
        inner_steps=preset.inner_steps,
        warmup_steps=warmup_steps,
        n_frames=round(spec.duration / (spec.save_every * dt)) + 1,
        save_every=spec.save_every,
        history=spec.history,
        coarse_steps=coarse_steps,
        warmup_inner_steps=preset.warmup_inner_steps,
    )


def generation_key(preset: Preset, split: str) -> dict:
    """Everything that determines the data (and chunking) of one split's store."""
    split_fields = to_dict(preset.split(split))
    if not split_fields.get("history"):  # stores made before history existed stay valid
        split_fields.pop("history", None)
    # fields added later enter the key only when set, so earlier stores stay valid
    added = {}
    if preset.reference_solver != "fv":
        added["reference_solver"] = preset.reference_solver
    if preset.warmup_size:
        added.update(warmup_size=preset.warmup_size, refine_time=preset.refine_time)
    return {
        **added,
        "flow": to_dict(preset.flow),
        "model_size": preset.model_size,
        "fine_size": preset.fine_size,
        "inner_steps": preset.inner_steps,
        "split": split_fields,
        "seed_streams": SEED_STREAMS,
        "initial_sizes": list(preset.initial_sizes) if split == "test" else [],
        "batch_size": preset.batch_size,
        "time_chunk": preset.time_chunk,
    }


def store_attrs(preset: Preset, split: str, plan: SplitPlan) -> dict:
    spec = preset.split(split)
    return {
        "preset": preset.name,
        "split": split,
        "config_json": json.dumps({"preset": json.loads(preset.to_json()), "split": split},
                                  sort_keys=True),
        "generation_key": json.dumps(generation_key(preset, split), sort_keys=True),
        "flow": flow_name(preset.flow),
        "viscosity": preset.flow.viscosity,
        "domain_size": preset.flow.domain_size,
        "model_size": preset.model_size,
        "fine_size": preset.fine_size,
        "inner_steps": plan.inner_steps,
        "dt_model": plan.dt_model,
        "save_every": plan.save_every,
        "frame_dt": plan.frame_dt,
        "warmup": spec.warmup,
        "seed": spec.seed,
        "n_samples": spec.n_samples,
        "history_frames": spec.history,
        "seed_stream": SPLIT_STREAMS[split],
        "stationary_energy": preset.stationary[0] if preset.stationary else None,
        "stationary_enstrophy": preset.stationary[1] if preset.stationary else None,
        "failed": "",
        "solver": SPECTRAL_DESCRIPTION if preset.reference_solver == "spectral"
        else SOLVER_DESCRIPTION,
        "reference_solver": preset.reference_solver,
        "warmup_size": preset.warmup_size or preset.fine_size,
        "refine_time": preset.refine_time,
        **provenance(),  # neuralpde_version, neuralpde_git_commit
        "jax_version": jax.__version__,
        "jax_cfd_version": dns.JAX_CFD_VERSION,
    }


def refine_velocity(uv: jax.Array, size: int, domain_size: float) -> jax.Array:
    """A face-averaged MAC velocity ``(2, M, M)`` interpolated to ``(2, N, N)``, N ≥ M.

    Band-limited (spectral) interpolation of the face averages: the field whose
    face averages on the M² grid are ``uv`` and which holds no mode with
    ``|k| ≥ M/2`` (:mod:`neuralpde.physics.spectral`), averaged over the
    faces of the N² grid.  Face averages of a divergence-free field are
    discretely divergence-free on every MAC grid, so the result is, too
    (up to round-off); face averaging it back to M² returns ``uv`` up to its
    Nyquist modes.  ``N = M`` returns ``uv`` itself.
    """
    if uv.shape[-1] == size:
        return uv
    state = spectral.staggered_to_spectral(uv, size, domain_size)
    return spectral.spectral_to_staggered(state, size, domain_size)


class SplitKernels:
    """The jit-compiled pieces of one split's generation (cached per shape).

    Batched states: the finite-volume reference and the coarse warm-up hold
    ``(B, 2, N, N)`` face values; the pseudo-spectral reference
    ``(omega_hat (B, N, N//2+1), mean (B, 2))``.

    Attributes:
      reference_step: one unbatched step of the reference solver on the fine grid.
      warmup_step: one unbatched finite-volume step on the coarse warm-up grid
        (None without one).
    """

    def __init__(self, preset: Preset, plan: SplitPlan, sharding):
        self.preset, self.plan, self.sharding = preset, plan, sharding
        flow, fine = preset.flow, preset.fine_size
        dt = plan.dt_model / plan.inner_steps
        self.is_spectral = preset.reference_solver == "spectral"
        self.reference_step = (spectral.spectral_step(flow, fine, dt) if self.is_spectral
                               else dns.finite_volume_step(flow, fine, dt))
        self.warmup_step = (dns.finite_volume_step(flow, preset.warmup_size,
                                                   plan.dt_model / plan.warmup_inner_steps)
                            if preset.warmup_size else None)

    def state_struct(self, batch: int):
        """The ``jax.ShapeDtypeStruct`` pytree of a batch of reference states."""
        fine = self.preset.fine_size
        if self.is_spectral:
            return (jax.ShapeDtypeStruct((batch, fine, fine // 2 + 1), jnp.complex64),
                    jax.ShapeDtypeStruct((batch, 2), jnp.float32))
        return jax.ShapeDtypeStruct((batch, 2, fine, fine), jnp.float32)

    def _to_reference(self, uv):
        """Batched FV face values (any grid) → the reference state on the fine grid."""
        fine, domain = self.preset.fine_size, self.preset.flow.domain_size
        if self.is_spectral:
            return jax.vmap(lambda x: spectral.staggered_to_spectral(x, fine, domain))(uv)
        return jax.vmap(lambda x: refine_velocity(x, fine, domain))(uv)

    @functools.cached_property
    def initial(self):
        """``(base_key, indices) -> state``: the initial states, on the coarse warm-up grid
        when there is one (FV face values), else the reference's."""
        flow = self.preset.flow
        start = self.preset.warmup_size or self.preset.fine_size

        def init(base_key, indices):
            keys = jax.vmap(lambda i: jax.random.fold_in(base_key, i))(indices)
            uv = jax.vmap(lambda k: dns.random_initial_velocity(k, flow, start))(keys)
            return uv if self.preset.warmup_size else self._to_reference(uv)

        return jax.jit(init, out_shardings=self.sharding)

    @functools.cached_property
    def refine(self):
        """``coarse FV state -> reference state`` (:func:`refine_velocity` or the spectral
        transform)."""
        return jax.jit(self._to_reference, out_shardings=self.sharding)

    def observe(self, state, size: int):
        """Batched face averages ``(B, 2, size, size)`` of a reference state."""
        domain = self.preset.flow.domain_size
        if self.is_spectral:
            return jax.vmap(lambda s: spectral.spectral_to_staggered(s, size, domain))(state)
        return jax.vmap(lambda uv: dns.downsample_velocity(uv, size, domain))(state)

    @functools.cached_property
    def diagnostics(self):
        """``state -> (energy (B,), enstrophy (B,))`` on the fine grid: ½⟨u² + v²⟩, ½⟨ω²⟩."""
        fine = self.preset.fine_size
        dx = self.preset.flow.domain_size / fine

        def measure(state):
            uv = self.observe(state, fine)
            u, v = uv[:, 0], uv[:, 1]
            return kinetic_energy(u, v), enstrophy(vorticity(u, v, dx))

        return jax.jit(measure)

    @functools.lru_cache(maxsize=4)
    def advance(self, model_steps: int):
        """``state -> state`` after ``model_steps`` model steps of the reference (jit, per
        count)."""
        run = dns.repeated(self.reference_step, model_steps * self.plan.inner_steps)
        return jax.jit(jax.vmap(run), out_shardings=self.sharding)

    @functools.lru_cache(maxsize=4)
    def advance_warmup(self, model_steps: int):
        """``state -> state`` after ``model_steps`` model steps on the coarse warm-up grid."""
        run = dns.repeated(self.warmup_step, model_steps * self.plan.warmup_inner_steps)
        return jax.jit(jax.vmap(run), out_shardings=self.sharding)

    @functools.cached_property
    def initial_frames(self):
        sizes = self.preset.initial_sizes
        return jax.jit(lambda state: [self.observe(state, m) for m in sizes])

    @functools.cached_property
    def history(self):
        """``state -> (frames (B, H, 2, n, n), state)``: H frames one model step apart.

        Records the state, advances one model step, H − 1 times, then records
        the final state, which is returned (the first frame of the trajectory).
        """
        step = dns.repeated(self.reference_step, self.plan.inner_steps)
        model_size = self.preset.model_size

        def body(state, _):
            return jax.vmap(step)(state), self.observe(state, model_size)

        def run(state):
            state, frames = jax.lax.scan(body, state, None, length=self.plan.history - 1)
            last = self.observe(state, model_size)[:, None]
            return jnp.concatenate([jnp.swapaxes(frames, 0, 1), last], axis=1), state

        return jax.jit(run, out_shardings=(self.sharding, self.sharding))

    @functools.lru_cache(maxsize=4)
    def frames(self, n_frames: int):
        """``state -> (frames (B, n_frames, 2, n, n), state)``: record, then advance."""
        interval = dns.repeated(self.reference_step, self.plan.save_every * self.plan.inner_steps)
        model_size = self.preset.model_size

        def body(state, _):
            frame = self.observe(state, model_size)
            return jax.vmap(interval)(state), frame

        def run(state):
            state, frames = jax.lax.scan(body, state, None, length=n_frames)
            return jnp.swapaxes(frames, 0, 1), state

        return jax.jit(run, out_shardings=(self.sharding, self.sharding))


@functools.lru_cache(maxsize=8)
def _split_kernels(preset: Preset, plan: SplitPlan, sharding) -> SplitKernels:
    """Kernels shared by repeated generations of the same problem (no recompilation)."""
    return SplitKernels(preset, plan, sharding)


def generate_split(
    preset: Preset,
    split: str,
    path,
    progress: bool = True,
    devices=None,
    stop_after_blocks: int | None = None,
) -> Path:
    """Generate (or resume, or leave alone if complete) one split's store at ``path``.

    Args:
      preset: the generation recipe.
      split: ``'train'``, ``'validation'`` or ``'test'``.
      path: the store directory (``.../train.zarr``).
      progress: show a tqdm progress bar.
      devices: devices to shard the batch over (default: all local devices).
      stop_after_blocks: stop (as if killed) after this many written blocks;
        for tests of the resume logic.

    Returns the store path.  Raises :class:`~neuralpde.store.schema.StoreError` when a
    store exists at ``path`` that was generated with a different config (a
    failed one is replaced), when this configuration failed there before, and
    when the DNS produces a non-finite value (the store is then marked failed);
    :class:`~neuralpde.config.ConfigError` for a plan the split cannot serve;
    :class:`~neuralpde.outputs.OutputBusyError` when another process is
    generating the same store (lock file ``.<split>.zarr.lock`` beside it);
    :class:`~neuralpde.interrupts.Interrupted` after a SIGINT/SIGTERM under
    the CLI (at a block boundary, everything before it saved).
    """
    path = Path(path)
    spec = preset.split(split)
    plan = plan_split(preset, split)
    if preset.warmup_size and plan.warmup_steps and plan.coarse_steps == plan.warmup_steps:
        warnings.warn(f"the {split} split is refined to the reference grid at t = 0 "
                      f"(refine_time={preset.refine_time:g}): its first frames lack the small "
                      "scales the coarse warm-up grid cannot hold, which take about 1.5 time "
                      "units to re-form; give --refine-time 1 or more", stacklevel=2)
    attrs = store_attrs(preset, split, plan)
    # process 0 takes the store's lock (a second command is refused), the others their own
    index = jax.process_index()
    lock = f".{path.name}.lock" if index == 0 else f".{path.name}.process{index}.lock"
    with exclusive(path.parent, lock, what=str(path)):
        try:
            return _generate_split(preset, split, path, spec, plan, attrs, progress, devices,
                                   stop_after_blocks)
        except (jax.errors.JaxRuntimeError, MemoryError) as error:
            if not isinstance(error, MemoryError) and not any(
                    text in str(error) for text in ("RESOURCE_EXHAUSTED",
                                                    "Out of memory allocating")):
                raise
            reason = (str(error).strip().splitlines() or [type(error).__name__])[0][:160]
            message = (f"out of memory: {reason} (on {jax.devices()[0].device_kind}: the "
                       f"{split} split, {spec.n_samples} trajectories of the "
                       f"{preset.fine_size}² DNS, {preset.batch_size} at once); reduce "
                       "--batch-size, --samples or --fine-size")
            if path.exists():  # the corrected command (other sizes) then replaces it
                _fail(path, store.ResumeLog(path), f"{message} (the incomplete store {path} is "
                                                   "marked failed)")
            raise store.StoreError(message) from None


def _generate_split(preset, split, path, spec, plan, attrs, progress, devices,
                    stop_after_blocks) -> Path:
    """The body of :func:`generate_split`, run while holding the store's lock.

    With several processes (``jax.distributed``), process 0 checks or creates
    the store, every process generates the sample batches ``b`` with ``b mod
    process_count == process_index`` (disjoint zarr chunks: a chunk holds one
    batch's samples; one resume file per batch), and process 0 marks the store
    complete once all have finished.
    """
    index, n_processes = jax.process_index(), jax.process_count()
    if index == 0 and not (path.exists() and _reusable(path, attrs)):
        path.parent.mkdir(parents=True, exist_ok=True)
        layout = store.StoreLayout(
            n_samples=spec.n_samples, n_frames=plan.n_frames, size=preset.model_size,
            domain_size=preset.flow.domain_size, frame_dt=plan.frame_dt,
            sample_chunk=preset.batch_size, time_chunk=preset.time_chunk,
            initial_sizes=preset.initial_sizes if split == "test" else (),
            history_frames=plan.history, dt_model=plan.dt_model, diagnostics=True)
        store.ResumeLog(path).clear()
        store.create_store(path, layout, attrs)
    barrier(f"created {path}")
    if store.read_attrs(path)["complete"]:
        return path

    mesh = batch_mesh(devices)
    sharding = batch_sharding(mesh)
    kernels = _split_kernels(preset, plan, sharding)
    log = store.ResumeLog(path)
    n_batches = math.ceil(spec.n_samples / preset.batch_size)
    # a batch larger than the split computes only the split's samples (the data do not
    # depend on the batch: tested bit for bit)
    compute_batch = padded_batch(min(preset.batch_size, spec.n_samples), mesh.size)
    if kernels.is_spectral and compute_batch < 2 * mesh.size:
        # XLA's FFT of one transform rounds differently from a batched one (measured on
        # CPU): two per device keep the spectral store the same whatever the batch size
        compute_batch = 2 * mesh.size
    warmup_block = max(1, min(plan.warmup_steps, preset.time_chunk * plan.save_every))
    initial_sizes = preset.initial_sizes if split == "test" else ()
    base_key = split_key(spec.seed, split)  # the kernel folds in each sample index

    def check(values: np.ndarray, start: int, where) -> np.ndarray:
        """``values`` (batch, ...) if finite, else mark the store failed and raise."""
        finite = np.isfinite(values.reshape(values.shape[0], -1)).all(axis=1)
        if not finite.all():
            sample = start + int(np.argmax(~finite))
            _fail(path, log, f"the {split} split's DNS produced a non-finite value (sample "
                             f"{sample}, {where(values, int(np.argmax(~finite)))}): it is "
                             f"numerically unstable with this configuration (fine grid "
                             f"{preset.fine_size}², {plan.inner_steps} fine steps of "
                             f"{plan.dt_model / plan.inner_steps:.4g} per model step; check "
                             "viscosity, max_velocity, courant and domain_size); the incomplete "
                             f"store {path} is marked failed and nothing reads it")
        return values

    def checked_state(state, where):
        """The batched state on the host (one array, or the spectral pair), every leaf
        checked."""
        host = _host(state)
        for leaf in jax.tree.leaves(host):
            check(leaf[:valid], start, where)
        return host

    bar = progress_bar(progress and index == 0, n_batches * plan.model_steps,
                       f"{split} {preset.model_size}² ← {preset.fine_size}²", unit="model step")
    blocks_written = 0

    def stop_if_requested() -> None:
        if stop_requested():
            raise Interrupted(f"stopped while generating {path}; every finished block is saved "
                              "and its resume record written: re-run the same command to resume",
                              requested_signal())

    try:
        with safe_points():
            for batch in range(n_batches):
                start = batch * preset.batch_size
                valid = min(preset.batch_size, spec.n_samples - start)
                if batch % n_processes != index:  # another process's batch
                    bar.update(plan.model_steps)
                    continue
                if log.is_done(batch):
                    bar.update(plan.model_steps)
                    continue
                record = log.load(batch)
                if record is not None and not _fits(record, kernels, compute_batch):
                    warnings.warn(f"resume record {log.root / f'batch_{batch:05d}.npz'} holds "
                                  "a state of another shape than this generation's: batch "
                                  f"{batch} starts again from its first step", stacklevel=2)
                    record = None
                if record is None:
                    indices = jnp.arange(start, start + compute_batch)
                    state = kernels.initial(base_key, shard_batch(indices, sharding))
                    phase, count = ("coarse" if preset.warmup_size else "warmup"), 0
                else:
                    saved, phase, count = record
                    state = shard_batch(jax.tree.map(jnp.asarray, saved), sharding)
                    bar.update(count if phase in ("coarse", "warmup")
                               else plan.warmup_steps + max(count - 1, 0) * plan.save_every)
                if phase == "coarse":
                    # the coarse warm-up grid, up to refine_time before t = 0
                    while count < plan.coarse_steps:
                        steps = min(warmup_block, plan.coarse_steps - count)
                        state = kernels.advance_warmup(steps)(state)
                        count += steps
                        t = (count - plan.warmup_steps) * plan.dt_model
                        host = checked_state(state, lambda _, __: f"during the coarse "
                                                                  f"warm-up, at t = {t:.4g}")
                        log.save(batch, host, "coarse", count)
                        bar.update(steps)
                        stop_if_requested()
                    state = kernels.refine(state)
                    phase = "warmup"
                if phase == "warmup":
                    # the last history - 1 warm-up steps are recorded by the history kernel
                    recorded = max(plan.history - 1, 0)
                    while count < plan.warmup_steps - recorded:
                        steps = min(warmup_block, plan.warmup_steps - recorded - count)
                        state = kernels.advance(steps)(state)
                        count += steps
                        t = (count - plan.warmup_steps) * plan.dt_model
                        host = checked_state(state, lambda _, __: f"during the warm-up, at "
                                                                  f"t = {t:.4g}")
                        log.save(batch, host, "warmup", count)
                        bar.update(steps)
                        stop_if_requested()
                    if plan.history:
                        history, state = kernels.history(state)
                        history = check(np.asarray(history)[:valid], start, lambda v, i: (
                            "in the history before t = 0"))
                        store.write_history(path, start, history)
                        bar.update(recorded)
                    checked_state(state, lambda _, __: "at t = 0")
                    for m, frame in zip(initial_sizes, kernels.initial_frames(state)):
                        store.write_initial(path, m, start, np.asarray(frame)[:valid])
                    energy, enstrophy_ = kernels.diagnostics(state)
                    store.write_diagnostics(path, start, np.asarray(energy)[:valid],
                                            np.asarray(enstrophy_)[:valid])
                    phase, count = "frames", 0
                while count < plan.n_frames:
                    if stop_after_blocks is not None and blocks_written >= stop_after_blocks:
                        return path
                    n = min(preset.time_chunk, plan.n_frames - count)
                    frames, state = kernels.frames(n)(state)
                    first = count

                    def when(values, i):
                        bad = ~np.isfinite(values[i].reshape(values.shape[1], -1)).all(axis=1)
                        return f"t = {(first + int(np.argmax(bad))) * plan.frame_dt:.4g}"

                    frames = check(np.asarray(frames)[:valid], start, when)
                    store.write_frames(path, start, count, frames)
                    count += n
                    blocks_written += 1
                    bar.update((count - 1 - max(count - n - 1, 0)) * plan.save_every)
                    if count < plan.n_frames:
                        log.save(batch, _host(state), "frames", count)
                        stop_if_requested()
                log.mark_done(batch)
                if batch + 1 < n_batches:
                    stop_if_requested()
    finally:
        bar.close()
    barrier(f"written {path}")
    if index == 0:
        store.mark_complete(path)
        log.clear()
    barrier(f"complete {path}")
    return path


def _fits(record, kernels: SplitKernels, batch: int) -> bool:
    """Whether a resume record's state has the shapes and dtypes this generation's phase holds."""
    state, phase, _ = record
    if phase == "coarse":
        if not kernels.preset.warmup_size:
            return False
        size = kernels.preset.warmup_size
        wanted = jax.ShapeDtypeStruct((batch, 2, size, size), jnp.float32)
    else:
        wanted = kernels.state_struct(batch)
    leaves, wanted = (list(state) if isinstance(state, tuple) else [state]), jax.tree.leaves(wanted)
    return len(leaves) == len(wanted) and all(
        leaf.shape == w.shape and leaf.dtype == w.dtype for leaf, w in zip(leaves, wanted))


def _host(state):
    """A batched state on the host: one array, or a tuple (the spectral state)."""
    return tuple(np.asarray(leaf) for leaf in state) if isinstance(state, tuple) \
        else np.asarray(state)


def _fail(path: Path, log, message: str) -> None:
    """Mark the store failed (kept, incomplete, with the reason) and raise ``StoreError``."""
    store.mark_failed(path, message)
    log.clear()
    raise store.StoreError(message)


def _reusable(path: Path, attrs: dict) -> bool:
    """Whether the store at ``path`` continues this generation (False: replace it).

    The same generation resumes (or is left alone if complete); a store marked
    failed by another configuration is replaced; a failed store of this one
    refuses at once (it would fail again); any other store of another
    configuration is refused.
    """
    existing = store.read_attrs(path)
    same = existing.get("generation_key") == attrs["generation_key"]
    failed = existing.get("failed", "")
    if failed and same:
        raise store.StoreError(f"{path} failed before with this configuration: {failed}")
    if failed:
        return False
    if same:
        return True
    old = json.loads(existing.get("generation_key", "{}"))
    new = json.loads(attrs["generation_key"])
    differing = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
    raise store.StoreError(
        f"{path} already holds a store generated with a different config "
        f"(differs in {differing}); use another --out or delete it")


def generate(preset: Preset, out, splits: tuple | None = None, progress: bool = True,
             devices=None) -> dict[str, Path]:
    """Generate every requested split (default: all of the preset's) into ``out/<split>.zarr``.

    Every split's plan is checked before the first is generated, so a
    configuration that one split cannot serve writes nothing.  Returns
    ``{split: path}``.
    """
    out = Path(out)
    splits = preset.splits if splits is None else tuple(splits)
    for split in splits:
        plan_split(preset, split)
    return {split: generate_split(preset, split, out / f"{split}.zarr", progress, devices)
            for split in splits}
