r"""Learned interpolation and TSM: trained on store windows through the unrolled solver.

Each update draws ``batch_size`` windows of ``prefix + unroll`` consecutive
frames from the train store (:class:`~neuralpde.training.windows.WindowSource`;
the draw depends on (seed, step) only), unrolls the learned solver from each
prefix and takes the mean of :func:`neuralpde.training.losses.window_loss`
over the global batch.  The batch is split over all devices of all processes
(data parallel, parameters replicated; each process reads only the windows of
its own rows); the loss is a mean over the global batch, so the number of
devices and processes does not change it.

:func:`windowed_task` builds the :class:`~neuralpde.training.task.Task` the
loop runs, with the kind's solver builder (the table of learned kinds,
:mod:`neuralpde.training.kinds`, passes it); :func:`cached_windowed_step` is
the compiled update (one compilation per model, shared by a run and its
resumptions in one process).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from pathlib import Path

import jax
import jax.numpy as jnp
import optax

from neuralpde.config import ConfigError, UserInputError, to_dict
from neuralpde.sharding import batch_sharding, global_batch, global_mesh, local_rows
from neuralpde.solvers.base import history_frames
from neuralpde.solvers.learned import training_feature_scale
from neuralpde.store.reading import initial_inputs, open_store, store_flow
from neuralpde.training.config import TrainConfig
from neuralpde.training.losses import window_loss
from neuralpde.training.optim import guarded_update, make_optimizer
from neuralpde.training.task import Task, validation_store
from neuralpde.training.windows import WindowSource

#: Training prefixes whose features set the ``feature_norm='rms'`` scale.
FEATURE_SCALE_PREFIXES = 64


def make_windowed_step(solver, optimizer: optax.GradientTransformation, loss_kind: str,
                       remat: bool = False, scan_unroll: int | None = None):
    """The jitted update ``(params, opt_state, extras, skipped, batch, step) -> (..., stats)``.

    ``batch``: windows ``(B, K + M, 2, n, n)``; ``stats``: ``loss`` (the
    batch mean of the window loss) and ``grad_norm`` (global norm before
    clipping).  A non-finite loss or gradient keeps the old parameters and
    optimiser state and counts one skipped update.  ``remat``, ``scan_unroll``:
    see :func:`~neuralpde.training.losses.window_loss`.
    """
    def loss_fn(params, batch):
        model_solver = solver.with_params(params)
        return jnp.mean(jax.vmap(
            lambda w: window_loss(model_solver, w, loss_kind, remat, scan_unroll))(batch))

    def train_step(params, opt_state, extras, skipped, batch, step):
        del step  # the windows already depend on it
        loss, grads = jax.value_and_grad(loss_fn)(params, batch)
        params, opt_state, grad_norm, finite = guarded_update(optimizer, grads, opt_state,
                                                              params, loss)
        return (params, opt_state, extras, skipped + (~finite).astype(jnp.int32),
                {"loss": loss, "grad_norm": grad_norm})

    return jax.jit(train_step, donate_argnums=(0, 1))


def cached_windowed_step(config: TrainConfig, build_solver: Callable, flow, size: int,
                         feature_scale=None):
    """The compiled :func:`make_windowed_step` of a config (shared by runs and resumes in one
    process); ``build_solver``: the kind's (:data:`neuralpde.training.kinds.KINDS`).

    Fields that do not enter the step (data shape, logging, checkpointing,
    validation, seed) are normalised out of the cache key; ``feature_scale``
    (a ``feature_norm='rms'`` model's) is part of it.
    """
    key = dataclasses.replace(config, unroll=config.model.steps_per_call,
                              batch_size=1, checkpoint_every=1, keep_last=1,
                              validate_every=0, validation_samples=1, validation_horizon=1.0,
                              log_every=1, seed=0)
    scale = None if feature_scale is None else tuple(float(x) for x in feature_scale)
    return _windowed_step_for(key, build_solver, flow, size, scale)


@functools.lru_cache(maxsize=4)
def _windowed_step_for(config: TrainConfig, build_solver: Callable, flow, size: int,
                       feature_scale=None):
    solver = build_solver(config.model, config.seed, flow, size, **_saved(feature_scale))
    return make_windowed_step(solver, make_optimizer(config), config.loss, config.remat)


def _saved(feature_scale) -> dict:
    """The run.json fields a solver builder takes besides the config: a TSM model's feature
    scale, when it has one."""
    return {} if feature_scale is None else {"feature_scale": feature_scale}


def windowed_config(config: TrainConfig, data_dir) -> TrainConfig:
    """The config a windowed run records: :func:`with_data`; :class:`ConfigError` without data."""
    if data_dir is None:
        raise ConfigError(f"a {config.kind} run needs data: pass data_dir (a folder "
                          "holding train.zarr and validation.zarr)")
    return with_data(config, data_dir)


def with_data(config: TrainConfig, data_dir) -> TrainConfig:
    """``config`` with ``train_trajectories`` equal to the train store's count written as 0 (all).

    Both train on the same windows (:class:`WindowSource` draws from the first
    K trajectories), so a run started with ``--train-trajectories 8`` on an
    8-trajectory store resumes without it, and the other way round.  A store
    that cannot be opened is left to :func:`windowed_task` to report.
    """
    if not config.train_trajectories:
        return config
    try:
        held = open_store(Path(data_dir) / "train.zarr", split="train").sizes["sample"]
    except UserInputError:  # windowed_task names what is wrong with the store
        return config
    if config.train_trajectories == held:
        return dataclasses.replace(config, train_trajectories=0)
    return config


def windowed_task(config: TrainConfig, data_dir, build_solver: Callable, name: str = "",
                  existing: dict | None = None, devices=None) -> Task:
    """The LI/TSM task of ``config`` on ``data_dir`` (``train.zarr``, validation on
    ``validation.zarr``).

    ``build_solver``: the kind's solver builder ``(model config, seed, flow,
    size, name=..., **saved) -> solver`` (``saved``: ``feature_scale`` when
    the model has one).  ``existing``: the run's ``run.json`` record when
    resuming (its feature scale is reused rather than measured again).  Raises
    :class:`~neuralpde.store.schema.StoreError` for a missing or bad store and
    :class:`ConfigError` for a config the data cannot serve (unroll + prefix
    longer than the trajectories, a batch that does not split over the
    devices, a TSM prefix longer than the stored history).
    """
    data_dir = Path(data_dir)
    train_path = data_dir / "train.zarr"
    train_set = open_store(train_path, split="train")
    size = int(train_set.attrs["model_size"])
    decompose = config.model.decompose
    if size % decompose:  # refused before the run folder is written
        raise ConfigError(f"invalid decompose={decompose} for the {size}² grid of "
                          f"{train_path}: accepted a divisor of {size} (1: off)")
    validation = validation_store(data_dir, size)
    windows = WindowSource(train_set, config.unroll, config.seed,
                           prefix=config.model.window_prefix,
                           trajectories=config.train_trajectories)
    mesh = global_mesh(devices)
    if config.batch_size % mesh.size:
        where = "" if jax.process_count() == 1 else f" of {jax.process_count()} processes"
        raise ConfigError(f"invalid batch_size={config.batch_size}: accepted a multiple of the "
                          f"{mesh.size} devices{where}")
    windows.check_batch(config.batch_size)
    flow = store_flow(train_set)
    if existing is not None:
        feature_scale = existing.get("feature_scale")
    else:
        feature_scale = training_feature_scale(
            config.model, lambda: windows.prefixes(FEATURE_SCALE_PREFIXES))
    solver = build_solver(config.model, config.seed, flow, size, name=name,
                          **_saved(feature_scale))
    if history_frames(solver):  # fail before training if validation cannot start
        initial_inputs(validation, size, 1, history_frames(solver),
                       f"the {config.kind} model being trained (--prefix "
                       f"{config.model.window_prefix})")
    record = {"flow": to_dict(flow), "model_size": size, "preset": train_set.attrs["preset"],
              "data": str(data_dir.resolve()),
              "generation_key": train_set.attrs.get("generation_key", "")}
    if feature_scale is not None:
        record["feature_scale"] = [float(x) for x in feature_scale]
    sharding = batch_sharding(mesh)
    rows = local_rows(sharding, config.batch_size)  # this process's share of every batch
    return Task(
        solver=solver, record=record,
        step_fn=cached_windowed_step(config, build_solver, flow, size, feature_scale), extras={},
        batch=lambda step: global_batch(windows.batch(step, config.batch_size, rows), sharding,
                                        config.batch_size),
        validation=validation, batch_axis_sharded=True)


__all__ = ["FEATURE_SCALE_PREFIXES", "make_windowed_step", "cached_windowed_step",
           "windowed_config", "with_data", "windowed_task"]
