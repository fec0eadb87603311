r"""Training the staggered sub-solvers: physics-constrained on a state pool, or supervised from a store.

Physics-constrained (``loss='physics'``, no simulation data).  A pool of
``pool_size`` fine states is seeded with random divergence-free initial
conditions (:func:`neuralpde.physics.dns.random_initial_velocity`), each
advanced by the DNS on the training grid for a random time in
``[0, warmup_time]`` (``warmup_time = 0``: no simulation at all).  Every
update draws ``batch_size`` pool states :math:`\mathbf u^n`, predicts the next
s_T fine frames with all sub-solvers in one call, and minimises the physics
loss of :mod:`neuralpde.stagger.physics_loss` on the rebuilt fine frames:

.. math::

    L(\theta) = \frac{1}{B}\sum_{b}\frac{1}{s_T}\sum_{m}\Big[\overline{(\mathcal P\mathbf R^m_b)^2}
        + \lambda\,\overline{(\tfrac{\delta x}{\Delta t}D\mathbf u^{m+1}_b)^2}\Big].

The pool is then **refreshed with the model's own rollout**: the predicted
state :math:`\mathbf u^{n+s_T}` replaces :math:`\mathbf u^n` in its slot, so
the pool drifts along the model's own trajectories and training sees the
states the model will meet at inference; with probability
``reset_probability`` (and always when a state is non-finite or faster than
``max_speed``) the slot is re-seeded with its own seed state instead
(``reset_probability = 1`` therefore trains on the fixed seed states).

Supervised (``loss='supervised'``): windows of a train store (frames every
model step): :math:`\overline{(\mathbf u^{n+k+1}_\text{pred} - \mathbf u^{n+k+1})^2}`
averaged over the s_T predicted frames; ``'both'`` adds ``physics_weight`` × the
physics loss on the same windows.

Optimiser: global-norm clipping, Adam/AdamW, linear warm-up + cosine decay
(the recipe of :mod:`neuralpde.training.optim`, built here from
:class:`~neuralpde.stagger.config.StaggerTrainConfig`).  Non-finite updates
are skipped and counted.

Run folder: ``run.json`` (config, flow, grid, versions), ``metrics.jsonl``
(step, loss, residual, divergence, grad_norm, learning_rate, steps_per_s,
skipped, resets), ``checkpoints/last/<step>/`` (params, optimiser state,
pool, step, skipped; orbax, written atomically).  Re-running the same
command resumes from the last checkpoint; the batch and reset draws depend
on (seed, step) only, so a resumed run repeats the uninterrupted one.
"""

from __future__ import annotations

import functools
import json
import time
from pathlib import Path
from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np
import optax

from neuralpde import __version__, store
from neuralpde.config import ConfigError, to_dict
from neuralpde.physics import dns
from neuralpde.physics.flows import FlowSpec, flow_from_dict
from neuralpde.progress import progress_bar
from neuralpde.stagger import decompose
from neuralpde.stagger.config import StaggerTrainConfig, train_config_from_dict
from neuralpde.stagger.physics_loss import sequence_loss
from neuralpde.stagger.solver import StaggeredSolver, build_model
from neuralpde.training.checkpoint import CheckpointError, Checkpoints
# the shared optax chain: it reads only the optimiser fields StaggerTrainConfig also has
from neuralpde.training.optim import learning_rate_schedule, make_optimizer  # noqa: F401
# stagger run folders keep their metrics.jsonl like LI/TSM runs
from neuralpde.training.trainer import read_metrics, truncate_metrics  # noqa: F401


def seed_states(key: jax.Array, flow: FlowSpec, size: int, n: int, warmup_time: float,
                dt: Optional[float] = None) -> jax.Array:
    """``n`` random initial fields ``(n, 2, N, N)``, each advanced by the DNS for U(0, warmup_time)."""
    dt = dns.model_time_step(flow, size) if dt is None else dt
    k_init, k_time = jax.random.split(key)
    max_steps = int(round(warmup_time / dt))
    return _seed_fn(flow, size, n, max_steps, float(dt))(k_init, k_time).astype(jnp.float32)


@functools.lru_cache(maxsize=8)
def _seed_fn(flow: FlowSpec, size: int, n: int, max_steps: int, dt: float):
    @jax.jit
    def run(k_init, k_time):
        uv = jax.vmap(lambda k: dns.random_initial_velocity(k, flow, size))(
            jax.random.split(k_init, n))
        if max_steps == 0:
            return uv
        steps = jax.random.randint(k_time, (n,), 0, max_steps + 1)
        step = jax.vmap(dns.finite_volume_step(flow, size, dt))

        def body(i, x):
            return jnp.where((i < steps)[:, None, None, None], step(x), x)

        return jax.lax.fori_loop(0, max_steps, body, uv)

    return run


def _batch_loss(solver: StaggeredSolver, config: StaggerTrainConfig, uv0, targets):
    """Mean loss over a batch; ``targets`` (B, s_T, 2, N, N) or None (physics only)."""
    frames = jax.vmap(solver.frames)(uv0)
    zero = jnp.float32(0.0)
    residual = divergence = supervised = zero
    physics = None
    if config.loss in ("physics", "both"):
        physics, aux = jax.vmap(lambda u, f: sequence_loss(
            u, f, solver.flow, solver.fine_dt, config.convection, config.div_weight))(uv0, frames)
        residual, divergence = jnp.mean(aux["residual"]), jnp.mean(aux["divergence"])
    if config.loss in ("supervised", "both"):
        supervised = jnp.mean((frames - targets) ** 2)
    if config.loss == "physics":
        loss = jnp.mean(physics)
    elif config.loss == "supervised":
        loss = supervised
    else:
        loss = supervised + config.physics_weight * jnp.mean(physics)
    return loss, ({"residual": residual, "divergence": divergence, "supervised": supervised},
                  frames)


@functools.lru_cache(maxsize=4)
def cached_train_step(config: StaggerTrainConfig, flow: FlowSpec, size: int, fine_dt: float):
    """The compiled update of a run (shared by a run and its resumption in one process)."""
    solver = StaggeredSolver.from_model(flow, size, build_model(config.model, config.seed),
                                        fine_dt=fine_dt)
    return make_train_step(solver, config, make_optimizer(config))


def make_train_step(solver: StaggeredSolver, config: StaggerTrainConfig,
                    optimizer: optax.GradientTransformation):
    """The jitted update ``(params, opt_state, pool, seeds, data, skipped, step) -> (..., stats)``.

    ``data``: the store frames ``(samples, T, 2, N, N)`` for the supervised
    losses (a dummy array otherwise).  Only the parameters, not the solver's
    name, enter the step.
    """
    s_time = config.model.s_time
    base_key = jax.random.PRNGKey(config.seed + 1)

    def draw(key, pool, data):
        if config.loss == "physics":
            idx = jax.random.choice(key, pool.shape[0], (config.batch_size,), replace=False)
            return idx, pool[idx], None
        k1, k2 = jax.random.split(key)
        n_samples, n_time = data.shape[:2]
        sample = jax.random.randint(k1, (config.batch_size,), 0, n_samples)
        start = jax.random.randint(k2, (config.batch_size,), 0, n_time - s_time)
        window = jax.vmap(lambda i, t: jax.lax.dynamic_slice_in_dim(data[i], t, s_time + 1))(
            sample, start)
        return None, window[:, 0], window[:, 1:]

    def train_step(params, opt_state, pool, seeds, data, skipped, step):
        key = jax.random.fold_in(base_key, step)
        k_batch, k_reset = jax.random.split(key)
        idx, uv0, targets = draw(k_batch, pool, data)

        def loss_fn(p):
            return _batch_loss(solver.with_params(p), config, uv0, targets)

        (loss, (aux, frames)), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
        grad_norm = optax.tree.norm(grads)
        updates, new_opt_state = optimizer.update(grads, opt_state, params)
        new_params = optax.apply_updates(params, updates)
        finite = jnp.isfinite(loss) & jnp.isfinite(grad_norm)
        keep = lambda new, old: jax.tree.map(lambda a, b: jnp.where(finite, a, b), new, old)
        resets = jnp.int32(0)
        if idx is not None:  # refresh the pool with the model's own prediction
            state = jax.lax.stop_gradient(frames[:, -1])
            speed = jnp.max(jnp.abs(state), axis=(1, 2, 3))
            bad = ~jnp.isfinite(speed) | (speed > config.max_speed)
            reset = bad | (jax.random.uniform(k_reset, bad.shape) < config.reset_probability)
            fresh = seeds[idx]  # the slot's own seed state
            pool = pool.at[idx].set(jnp.where(reset[:, None, None, None], fresh, state))
            resets = jnp.sum(reset).astype(jnp.int32)
        stats = {"loss": loss, "grad_norm": grad_norm, "resets": resets, **aux}
        return (keep(new_params, params), keep(new_opt_state, opt_state), pool,
                skipped + (~finite).astype(jnp.int32), stats)

    return jax.jit(train_step, donate_argnums=(0, 1, 2))


def _run_record(config: StaggerTrainConfig, flow: FlowSpec, size: int, fine_dt: float,
                data: Optional[Path]) -> dict:
    return {"train_config": json.loads(config.to_json()), "flow": to_dict(flow), "size": size,
            "fine_dt": fine_dt, "data": str(data.resolve()) if data else None,
            "neuralpde_version": __version__, "jax_version": jax.__version__}


def _check_same_run(run_dir: Path, record: dict) -> None:
    existing = json.loads((run_dir / "run.json").read_text())
    differing = sorted(k for k in ("train_config", "flow", "size", "data")
                       if existing.get(k) != record.get(k))
    if differing:
        raise ConfigError(f"{run_dir} holds a run with a different {differing}: "
                          "use another --out to start a new run")


def _load_data(data_dir: Path, size: Optional[int]):
    train_set = store.open_store(data_dir / "train.zarr", split="train", model_size=size)
    if int(train_set.attrs["save_every"]) != 1:
        raise store.StoreError(f"{data_dir / 'train.zarr'} saves every {train_set.attrs['save_every']} "
                               "model steps: supervised training needs frames every model step")
    frames = np.stack([train_set.u.values, train_set.v.values], axis=2).astype(np.float32)
    flow = flow_from_dict(json.loads(train_set.attrs["config_json"])["preset"]["flow"])
    return frames, flow, int(train_set.attrs["model_size"]), float(train_set.attrs["dt_model"])


def train(config: StaggerTrainConfig, out_dir, flow: Optional[FlowSpec] = None,
          data_dir=None, progress: bool = True, stop_after: Optional[int] = None) -> dict:
    """Train (or resume) the sub-solvers; returns a summary (with the trained ``solver``).

    Args:
      config: the run config.
      out_dir: run folder (created; an existing one of the same run resumes).
      flow: the flow (physics loss); default the ``mini`` preset's flow.  With
        ``data_dir`` the store's flow is used.
      data_dir: folder holding ``train.zarr`` (required for the supervised losses).
      stop_after: return after this many steps of the whole run (resume tests).
    """
    run_dir = Path(out_dir)
    data = None
    if config.loss != "physics":
        if data_dir is None:
            raise ConfigError(f"loss={config.loss!r} needs a train store: pass --data "
                              "(a folder holding train.zarr)")
        data_dir = Path(data_dir)
        data, flow, size, fine_dt = _load_data(data_dir, config.size or None)
        if size % config.model.s:
            raise ConfigError(f"invalid s={config.model.s}: the store's grid {size} is not a "
                              "multiple of it")
    else:
        if flow is None:
            from neuralpde.presets import get_preset

            flow = get_preset("mini").flow
        size = config.size or 32
        decompose.check_factor(size, config.model.s)
        fine_dt = dns.model_time_step(flow, size)
        data_dir = None
    record = _run_record(config, flow, size, fine_dt, data_dir)
    if (run_dir / "run.json").exists():
        _check_same_run(run_dir, record)
    else:
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "run.json").write_text(json.dumps(record, indent=2) + "\n")

    model = build_model(config.model, config.seed)
    solver = StaggeredSolver.from_model(flow, size, model, fine_dt=fine_dt, name=run_dir.name)
    optimizer = make_optimizer(config)
    schedule = learning_rate_schedule(config)
    params = solver.params
    opt_state = optimizer.init(params)
    if config.loss == "physics":
        seeds = seed_states(jax.random.PRNGKey(config.seed), flow, size, config.pool_size,
                            config.warmup_time, fine_dt)
        data_arg = jnp.zeros((1, 1, 2, size, size), jnp.float32)
    else:
        seeds = jnp.zeros((1, 2, size, size), jnp.float32)
        data_arg = jnp.asarray(data)
    pool = jnp.array(seeds)
    skipped = jnp.int32(0)
    checkpoints = Checkpoints(run_dir, config.keep_last)
    start = 0
    if checkpoints.latest_step() is not None:
        restored = checkpoints.restore("last", {"params": params, "opt_state": opt_state,
                                                "pool": pool, "step": 0, "skipped": skipped})
        params, opt_state, pool = restored["params"], restored["opt_state"], restored["pool"]
        start, skipped = int(restored["step"]), jnp.int32(restored["skipped"])
    # commit everything to one device: restored arrays are committed, fresh ones are
    # not, and jit would compile the step a second time for the other kind
    device = jax.local_devices()[0]
    params, opt_state, pool, seeds, data_arg, skipped = jax.device_put(
        (params, opt_state, pool, seeds, data_arg, skipped), device)
    metrics_path = run_dir / "metrics.jsonl"
    truncate_metrics(metrics_path, start)
    train_step = cached_train_step(config, flow, size, float(fine_dt))
    end = config.steps if stop_after is None else min(config.steps, stop_after)

    bar = progress_bar(progress, config.steps, f"stagger-train {run_dir.name}", initial=start)
    last_time, last_step, line = time.perf_counter(), start, {}
    started = time.perf_counter()
    try:
        with metrics_path.open("a") as log:
            for step in range(start, end):
                params, opt_state, pool, skipped, stats = train_step(
                    params, opt_state, pool, seeds, data_arg, skipped, jnp.int32(step))
                done = step + 1
                bar.update(1)
                if done % config.log_every == 0 or done == end or done == start + 1:
                    now = time.perf_counter()
                    line = {"step": done, **{k: float(v) for k, v in stats.items()},
                            "learning_rate": float(schedule(step)),
                            "steps_per_s": (done - last_step) / (now - last_time),
                            "skipped": int(skipped)}
                    line["resets"] = int(stats["resets"])
                    last_time, last_step = now, done
                    bar.set_postfix(loss=f"{line['loss']:.3g}")
                    log.write(json.dumps(line) + "\n")
                    log.flush()
                if done % config.checkpoint_every == 0 or done == end:
                    checkpoints.save_last(done, {"params": params, "opt_state": opt_state,
                                                 "pool": pool, "step": done, "skipped": skipped})
    finally:
        bar.close()
        checkpoints.close()
    return {"run": str(run_dir), "step": end, "loss": line.get("loss", float("nan")),
            "skipped": int(skipped), "seconds": time.perf_counter() - started,
            "solver": solver.with_params(params)}


def load_stagger_solver(run_dir) -> StaggeredSolver:
    """The trained :class:`StaggeredSolver` of a run folder (its last checkpoint)."""
    run_dir = Path(run_dir)
    if not (run_dir / "run.json").exists():
        raise ConfigError(f"{run_dir} is not a stagger training run folder (no run.json): "
                          "train one with `neuralpde stagger-train`")
    record = json.loads((run_dir / "run.json").read_text())
    config = train_config_from_dict(record["train_config"])
    flow = flow_from_dict(record["flow"])
    size, fine_dt = int(record["size"]), float(record["fine_dt"])
    solver = StaggeredSolver.from_model(flow, size, build_model(config.model, config.seed),
                                        fine_dt=fine_dt, name=run_dir.name)
    pool_shape = ((config.pool_size if config.loss == "physics" else 1), 2, size, size)
    target = {"params": solver.params, "opt_state": make_optimizer(config).init(solver.params),
              "pool": jnp.zeros(pool_shape, jnp.float32), "step": 0, "skipped": jnp.int32(0)}
    checkpoints = Checkpoints(run_dir, config.keep_last)
    try:
        if checkpoints.latest_step() is None:
            raise CheckpointError(f"no checkpoint in {run_dir / 'checkpoints' / 'last'}: "
                                  "the run has not finished a checkpoint yet")
        restored = checkpoints.restore("last", target)
    finally:
        checkpoints.close()
    return solver.with_params(restored["params"])


__all__ = ["learning_rate_schedule", "make_optimizer", "seed_states", "make_train_step",
           "cached_train_step", "train",
           "load_stagger_solver", "read_metrics"]
