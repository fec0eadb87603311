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

import json
import math
import warnings
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from neuralpde.interrupts import Interrupted, requested_signal, safe_points, stop_requested
from neuralpde.outputs import exclusive
from neuralpde.progress import progress_bar
from neuralpde.sharding import barrier, batch_mesh, batch_sharding, padded_batch, shard_batch
from neuralpde.store import schema as store
from neuralpde.store.kernels import SplitKernels, split_kernels
from neuralpde.store.plan import plan_split, store_attrs
from neuralpde.store.presets import Preset, split_key


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
    index = jax.process_index()
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
    writer = _SplitWriter(preset, split, path, plan, devices, stop_after_blocks)
    bar = progress_bar(progress and index == 0, writer.n_batches * plan.model_steps,
                       f"{split} {preset.model_size}² ← {preset.fine_size}²", unit="model step")
    try:
        with safe_points():
            if not writer.write_batches(bar):
                return path  # stopped after ``stop_after_blocks`` blocks (tests)
    finally:
        bar.close()
    barrier(f"written {path}")
    if index == 0:
        store.mark_complete(path)
        writer.log.clear()
    barrier(f"complete {path}")
    return path


class _SplitWriter:
    """One split's generation, batch by batch and phase by phase (coarse warm-up, warm-up,
    frames), each block checked, written and recorded in the resume log."""

    def __init__(self, preset: Preset, split: str, path: Path, plan, devices,
                 stop_after_blocks: int | None):
        self.preset, self.split, self.path, self.plan = preset, split, path, plan
        self.spec = preset.split(split)
        self.stop_after_blocks, self.blocks_written = stop_after_blocks, 0
        mesh = batch_mesh(devices)
        self.sharding = batch_sharding(mesh)
        self.kernels = split_kernels(preset, plan, self.sharding)
        self.log = store.ResumeLog(path)
        self.n_batches = math.ceil(self.spec.n_samples / preset.batch_size)
        # a batch larger than the split computes only the split's samples (the data do not
        # depend on the batch: tested bit for bit)
        self.compute_batch = padded_batch(min(preset.batch_size, self.spec.n_samples),
                                          mesh.size)
        if self.kernels.is_spectral and self.compute_batch < 2 * mesh.size:
            # XLA's FFT of one transform rounds differently from a batched one (measured on
            # CPU): two per device keep the spectral store the same whatever the batch size
            self.compute_batch = 2 * mesh.size
        self.warmup_block = max(1, min(plan.warmup_steps, preset.time_chunk * plan.save_every))
        self.initial_sizes = preset.initial_sizes if split == "test" else ()
        self.base_key = split_key(self.spec.seed, split)  # the kernel folds in each sample index
        self.start = self.valid = 0  # the batch being generated: first sample, real samples

    def check(self, values: np.ndarray, where) -> np.ndarray:
        """``values`` (batch, ...) if finite, else mark the store failed and raise."""
        finite = np.isfinite(values.reshape(values.shape[0], -1)).all(axis=1)
        if not finite.all():
            sample = self.start + int(np.argmax(~finite))
            preset, plan = self.preset, self.plan
            _fail(self.path, self.log,
                  f"the {self.split} split's DNS produced a non-finite value (sample "
                  f"{sample}, {where(values, int(np.argmax(~finite)))}): it is "
                  f"numerically unstable with this configuration (fine grid "
                  f"{preset.fine_size}², {plan.inner_steps} fine steps of "
                  f"{plan.dt_model / plan.inner_steps:.4g} per model step; check "
                  "viscosity, max_velocity, courant and domain_size); the incomplete "
                  f"store {self.path} is marked failed and nothing reads it")
        return values

    def checked_state(self, state, where):
        """The batched state on the host (one array, or the spectral pair), every leaf
        checked."""
        host = _host(state)
        for leaf in jax.tree.leaves(host):
            self.check(leaf[:self.valid], where)
        return host

    def stop_if_requested(self) -> None:
        if stop_requested():
            raise Interrupted(f"stopped while generating {self.path}; every finished block is "
                              "saved and its resume record written: re-run the same command to "
                              "resume", requested_signal())

    def write_batches(self, bar) -> bool:
        """Every batch of this process; False when stopped after ``stop_after_blocks``."""
        index, n_processes = jax.process_index(), jax.process_count()
        for batch in range(self.n_batches):
            self.start = batch * self.preset.batch_size
            self.valid = min(self.preset.batch_size, self.spec.n_samples - self.start)
            if batch % n_processes != index or self.log.is_done(batch):
                bar.update(self.plan.model_steps)  # another process's batch, or done
                continue
            state, phase, count = self.resumed_or_initial(batch, bar)
            if phase == "coarse":
                state, count = self.coarse_warmup(batch, state, count, bar)
                phase = "warmup"
            if phase == "warmup":
                state = self.warmup(batch, state, count, bar)
                phase, count = "frames", 0
            if not self.frames(batch, state, count, bar):
                return False
            self.log.mark_done(batch)
            if batch + 1 < self.n_batches:
                self.stop_if_requested()
        return True

    def resumed_or_initial(self, batch: int, bar):
        """``(state, phase, count)`` of a batch: its resume record, or its initial state."""
        record = self.log.load(batch)
        if record is not None and not _fits(record, self.kernels, self.compute_batch):
            warnings.warn(f"resume record {self.log.root / f'batch_{batch:05d}.npz'} holds "
                          "a state of another shape than this generation's: batch "
                          f"{batch} starts again from its first step", stacklevel=2)
            record = None
        if record is None:
            indices = jnp.arange(self.start, self.start + self.compute_batch)
            state = self.kernels.initial(self.base_key, shard_batch(indices, self.sharding))
            return state, ("coarse" if self.preset.warmup_size else "warmup"), 0
        saved, phase, count = record
        state = shard_batch(jax.tree.map(jnp.asarray, saved), self.sharding)
        bar.update(count if phase in ("coarse", "warmup")
                   else self.plan.warmup_steps + max(count - 1, 0) * self.plan.save_every)
        return state, phase, count

    def advance_checked(self, batch: int, state, count: int, end: int, phase: str, advance,
                        bar):
        """Blocks of at most ``warmup_block`` model steps from ``count`` to ``end``, each
        checked and recorded as ``phase``; returns ``(state, count)``."""
        label = "during the coarse warm-up" if phase == "coarse" else "during the warm-up"
        while count < end:
            steps = min(self.warmup_block, end - count)
            state = advance(steps)(state)
            count += steps
            t = (count - self.plan.warmup_steps) * self.plan.dt_model
            host = self.checked_state(state, lambda _, __: f"{label}, at t = {t:.4g}")
            self.log.save(batch, host, phase, count)
            bar.update(steps)
            self.stop_if_requested()
        return state, count

    def coarse_warmup(self, batch: int, state, count: int, bar):
        """The coarse warm-up grid up to ``refine_time`` before t = 0, then refined;
        returns ``(state, count)``."""
        state, count = self.advance_checked(batch, state, count, self.plan.coarse_steps,
                                            "coarse", self.kernels.advance_warmup, bar)
        return self.kernels.refine(state), count

    def warmup(self, batch: int, state, count: int, bar):
        """The reference's warm-up to t = 0, the history, the t = 0 fields and diagnostics."""
        plan, kernels, path, valid = self.plan, self.kernels, self.path, self.valid
        # the last history - 1 warm-up steps are recorded by the history kernel
        recorded = max(plan.history - 1, 0)
        state, _ = self.advance_checked(batch, state, count, plan.warmup_steps - recorded,
                                        "warmup", kernels.advance, bar)
        if plan.history:
            history, state = kernels.history(state)
            history = self.check(np.asarray(history)[:valid],
                                 lambda v, i: "in the history before t = 0")
            store.write_history(path, self.start, history)
            bar.update(recorded)
        self.checked_state(state, lambda _, __: "at t = 0")
        for m, frame in zip(self.initial_sizes, kernels.initial_frames(state)):
            store.write_initial(path, m, self.start, np.asarray(frame)[:valid])
        energy, enstrophy_ = kernels.diagnostics(state)
        store.write_diagnostics(path, self.start, np.asarray(energy)[:valid],
                                np.asarray(enstrophy_)[:valid])
        return state

    def frames(self, batch: int, state, count: int, bar) -> bool:
        """The trajectory from frame ``count``, one ``time_chunk`` block at a time; False
        when stopped after ``stop_after_blocks`` blocks."""
        plan = self.plan
        while count < plan.n_frames:
            if (self.stop_after_blocks is not None
                    and self.blocks_written >= self.stop_after_blocks):
                return False
            n = min(self.preset.time_chunk, plan.n_frames - count)
            frames, state = self.kernels.frames(n)(state)
            first = count

            def when(values, i):
                bad = ~np.isfinite(values[i].reshape(values.shape[1], -1)).all(axis=1)
                return f"t = {(first + int(np.argmax(bad))) * plan.frame_dt:.4g}"

            frames = self.check(np.asarray(frames)[:self.valid], when)
            store.write_frames(self.path, self.start, count, frames)
            count += n
            self.blocks_written += 1
            bar.update((count - 1 - max(count - n - 1, 0)) * plan.save_every)
            if count < plan.n_frames:
                self.log.save(batch, _host(state), "frames", count)
                self.stop_if_requested()
        return True


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
    differing = _differing(old, new)
    raise store.StoreError(
        f"{path} already holds a store generated with a different config "
        f"(differs in {differing}); use another --out or delete it")


def _differing(old: dict, new: dict, prefix: str = "") -> list[str]:
    """The keys whose values differ, nested ones spelled ``split.n_samples``."""
    found = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            found += _differing(a, b, f"{prefix}{key}.")
        elif a != b:
            found.append(f"{prefix}{key}")
    return found


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
