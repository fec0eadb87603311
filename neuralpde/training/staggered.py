r"""Training the staggered sub-solvers: physics-constrained on a state pool, or supervised from a
store.

Physics-constrained (``loss='physics'``, no simulation data).  A pool of
``pool_size`` fine states is seeded with random divergence-free initial
conditions (:func:`neuralpde.physics.dns.random_initial_velocity`), each
advanced by the DNS on the training grid for ``spinup_time`` (default 40 time
units: the statistically stationary regime, as the stores' warm-up) plus a
random time in ``[0, warmup_time]`` (both 0: no simulation at all).  Every
update draws ``batch_size`` pool states :math:`\mathbf u^n`, predicts the next
s_T fine frames with all sub-solvers in one call, and minimises the physics
loss of :mod:`neuralpde.training.losses` on the rebuilt fine frames:

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

The rest is the one training loop (:mod:`neuralpde.training.loop`): the
optimiser of :mod:`neuralpde.training.optim`, skipped non-finite updates,
``run.json``/``metrics.jsonl``/checkpoints in the run folder (the pool is
saved with every checkpoint), resume, and — when a data folder is given —
validation and the best checkpoint.  The batch and reset draws depend on
(seed, step) only, so a resumed run repeats the uninterrupted one.
"""

from __future__ import annotations

import functools
from pathlib import Path

import jax
import jax.numpy as jnp
import optax

from neuralpde.config import ConfigError, to_dict
from neuralpde.numerics.time_stepping import repeated
from neuralpde.physics import decompose, dns
from neuralpde.physics.flows import FlowSpec
from neuralpde.sharding import global_mesh, replicated
from neuralpde.solvers.staggered import StaggeredSolver, build_stagger_solver
from neuralpde.store.reading import open_store, store_flow, trajectory_frames
from neuralpde.store.schema import StoreError
from neuralpde.training.config import StaggerTrainConfig
from neuralpde.training.losses import stagger_batch_loss
from neuralpde.training.optim import guarded_update, make_optimizer
from neuralpde.training.task import Task, validation_store

#: The grid of a physics-only run when neither the config nor the caller names one.
DEFAULT_SIZE = 32


def seed_states(key: jax.Array, flow: FlowSpec, size: int, n: int, warmup_time: float,
                dt: float | None = None, spinup_time: float = 0.0) -> jax.Array:
    """``n`` random initial fields ``(n, 2, N, N)``, each advanced by the DNS on N² for
    ``spinup_time`` + U(0, warmup_time) time units (in steps of ``dt``, default the
    grid's CFL step).  The random extra times depend on ``key`` only."""
    dt = dns.model_time_step(flow, size) if dt is None else dt
    k_init, k_time = jax.random.split(key)
    spinup_steps = int(round(spinup_time / dt))
    max_steps = int(round(warmup_time / dt))
    return _seed_fn(flow, size, n, spinup_steps, max_steps, float(dt))(
        k_init, k_time).astype(jnp.float32)


@functools.lru_cache(maxsize=8)
def _seed_fn(flow: FlowSpec, size: int, n: int, spinup_steps: int, max_steps: int, dt: float):
    @jax.jit
    def run(k_init, k_time):
        uv = jax.vmap(lambda k: dns.random_initial_velocity(k, flow, size))(
            jax.random.split(k_init, n))
        step = jax.vmap(dns.finite_volume_step(flow, size, dt))
        uv = repeated(step, spinup_steps)(uv)
        if max_steps == 0:
            return uv
        steps = jax.random.randint(k_time, (n,), 0, max_steps + 1)

        def masked_step(carry):  # sample j advances only in its first steps[j] steps
            i, x = carry
            return i + 1, jnp.where((i < steps)[:, None, None, None], step(x), x)

        return repeated(masked_step, max_steps)((jnp.int32(0), uv))[1]

    return run


def checkpoint_extras(config: StaggerTrainConfig, size: int) -> dict:
    """The state saved with every checkpoint besides parameters and optimiser: the pool.

    ``{'pool': (pool_size, 2, N, N)}`` for the physics loss; a ``(1, 2, N, N)``
    placeholder for the supervised losses (they draw store windows instead).
    """
    n = config.pool_size if config.loss == "physics" else 1
    return {"pool": jnp.zeros((n, 2, size, size), jnp.float32)}


@functools.lru_cache(maxsize=4)
def cached_stagger_step(config: StaggerTrainConfig, flow: FlowSpec, size: int, fine_dt: float):
    """The compiled :func:`make_stagger_step` of a run (shared by a run and its resumption in
    one process)."""
    solver = build_stagger_solver(config.model, config.seed, flow, size, fine_dt=fine_dt)
    return make_stagger_step(solver, config, make_optimizer(config))


def make_stagger_step(solver: StaggeredSolver, config: StaggerTrainConfig,
                      optimizer: optax.GradientTransformation):
    """The jitted update ``(params, opt_state, extras, skipped, batch, step) -> (..., stats)``.

    ``extras``: ``{'pool': (P, 2, N, N)}``; ``batch``: ``(seeds (P, 2, N, N),
    data (samples, T, 2, N, N))`` — the pool's seed states (physics loss) and
    the store frames (supervised losses), dummies otherwise; the draws from
    them happen inside the step from ``fold_in(PRNGKey(seed + 1), step)``.
    Only the parameters, not the solver's name, enter the step.
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

    def train_step(params, opt_state, extras, skipped, batch, step):
        seeds, data = batch
        pool = extras["pool"]
        key = jax.random.fold_in(base_key, step)
        k_batch, k_reset = jax.random.split(key)
        idx, uv0, targets = draw(k_batch, pool, data)

        def loss_fn(p):
            return stagger_batch_loss(solver.with_params(p), config, uv0, targets)

        (loss, (aux, frames)), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
        params, opt_state, grad_norm, finite = guarded_update(optimizer, grads, opt_state,
                                                              params, loss)
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
        return (params, opt_state, {"pool": pool}, skipped + (~finite).astype(jnp.int32), stats)

    return jax.jit(train_step, donate_argnums=(0, 1, 2))


def stagger_task(config: StaggerTrainConfig, data_dir=None, flow: FlowSpec | None = None,
                 name: str = "", devices=None) -> Task:
    """The staggered sub-solvers' task.

    Args:
      config: the run config.
      data_dir: folder holding ``train.zarr`` (required for the supervised
        losses) and ``validation.zarr`` (validation); with it, the flow and grid
        are the store's.  Without it (physics loss only) there is no validation.
      flow: the flow of a physics-only run (default: the ``mini`` preset's).
      name: the solver's name (the run folder's).
      devices: the devices the (replicated) training runs on (default: every
        process's devices, :func:`~neuralpde.sharding.global_mesh`).

    Raises :class:`ConfigError` for a config the grid or data cannot serve,
    :class:`~neuralpde.store.schema.StoreError` for a missing or bad store.
    """
    record = {"preset": None, "data": None, "generation_key": ""}
    validation = data = None
    if data_dir is not None:
        data_dir = Path(data_dir)
        train_set = open_store(data_dir / "train.zarr", split="train",
                               model_size=config.size or None)
        if int(train_set.attrs["save_every"]) != 1 and config.loss != "physics":
            raise StoreError(f"{data_dir / 'train.zarr'} saves every "
                             f"{train_set.attrs['save_every']} model steps: supervised training "
                             "needs frames every model step")
        flow, size = store_flow(train_set), int(train_set.attrs["model_size"])
        fine_dt = float(train_set.attrs["dt_model"])
        validation = validation_store(data_dir, size)
        if config.loss != "physics":
            data = trajectory_frames(train_set)
        record.update(preset=train_set.attrs["preset"], data=str(data_dir.resolve()),
                      generation_key=train_set.attrs.get("generation_key", ""))
    elif config.loss != "physics":
        raise ConfigError(f"loss={config.loss!r} needs a train store: pass --data "
                          "(a folder holding train.zarr)")
    else:
        if flow is None:
            from neuralpde.store.presets import get_preset

            flow = get_preset("mini").flow
        size = config.size or DEFAULT_SIZE
        fine_dt = dns.model_time_step(flow, size)
    decompose.check_factor(size, config.model.s)
    solver = build_stagger_solver(config.model, config.seed, flow, size, fine_dt=fine_dt,
                                  name=name)
    mesh = global_mesh(devices)  # replicated: every device runs the whole (small) batch
    if config.loss == "physics":
        seeds = seed_states(jax.random.PRNGKey(config.seed), flow, size, config.pool_size,
                            config.warmup_time, fine_dt, spinup_time=config.spinup_time)
        data = jnp.zeros((1, 1, 2, size, size), jnp.float32)
    else:
        seeds = jnp.zeros((1, 2, size, size), jnp.float32)
    constants = jax.device_put((seeds, jnp.asarray(data)), replicated(mesh))
    record.update(flow=to_dict(flow), model_size=size, fine_dt=float(fine_dt))
    return Task(solver=solver, record=record,
                step_fn=cached_stagger_step(config, flow, size, float(fine_dt)),
                extras={"pool": jnp.array(seeds)}, batch=lambda step: constants,
                validation=validation)


__all__ = ["DEFAULT_SIZE", "seed_states", "checkpoint_extras", "cached_stagger_step",
           "make_stagger_step", "stagger_task"]
