r"""The training loop: unrolled-solver loss, skipped non-finite updates, checkpoints, resume.

Loss of one window (frames :math:`\mathbf u_{-K+1} .. \mathbf u_M` of the
train store, one model step apart), with :math:`S_\theta` the learned model
step started from the prefix (LI: K = 1, the state :math:`\mathbf u_0`; TSM:
the K frames its memory encodes):

.. math::

    L(\theta) = \frac{1}{M}\sum_{m=1}^{M} \overline{(S_\theta^m(\mathbf u_{-K+1..0}) - \mathbf u_m)^2}

(mean over u, v and the grid; ``relative_mse`` divides by
:math:`\overline{\mathbf u_m^2}`), averaged over the batch; gradients flow
through all M solver steps.

The batch is split over all local devices (data parallel, parameters
replicated); the loss is a mean over the global batch, so the number of
devices does not change it.  Every ``checkpoint_every`` steps the parameters,
optimiser state, step and skipped-update count are saved; a run restarted in
the same folder restores the last checkpoint and continues with the windows
the uninterrupted run would have used (they depend on the step number only),
so it reproduces the uninterrupted parameters.

Run folder: ``run.json`` (config, data, versions), ``metrics.jsonl`` (one
JSON line per ``log_every`` steps: step, loss, grad_norm, learning_rate,
steps_per_s, skipped; validation lines add ``validation_duration``),
``checkpoints/{last,best}/``.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import time
from pathlib import Path
from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np
import optax
import xarray as xr
from flax import nnx

from neuralpde import __version__, store
from neuralpde.config import ConfigError
from neuralpde.evaluation import metrics
from neuralpde.evaluation.evaluate import initial_inputs, reference_flow, steps_per_frame
from neuralpde.evaluation.rollout import device_name, rollout
from neuralpde.models.learned_interpolation import LearnedInterpolation, LearnedSolver
from neuralpde.models.temporal_stencil import (TemporalStencilModel, TSMSolver, feature_rms,
                                               make_encoder)
from neuralpde.solvers import history_frames, step_with_velocities, substeps
from neuralpde.progress import progress_bar
from neuralpde.sharding import batch_mesh, batch_sharding, replicated, shard_batch
from neuralpde.training.checkpoint import Checkpoints
from neuralpde.training.config import ModelConfig, TrainConfig, train_config_from_dict
from neuralpde.training.optim import learning_rate_schedule, make_optimizer
from neuralpde.training.windows import WindowSource


#: Training prefixes whose features set the ``feature_norm='rms'`` scale.
FEATURE_SCALE_PREFIXES = 64


def build_encoder(config: ModelConfig, feature_scale=None):
    """The temporal encoder of a TSM config (``None`` for LI).

    ``feature_scale``: the per-channel divisors of a ``feature_norm='rms'``
    model (from its run.json, or :func:`training_feature_scale`); required
    for such a model, refused for the others.
    """
    if not config.temporal:
        return None
    if (config.feature_norm == "rms") != (feature_scale is not None):
        raise ConfigError(f"feature_norm={config.feature_norm!r} with "
                          f"{'no' if feature_scale is None else 'a'} feature scale: a model with "
                          "feature_norm='rms' needs the scale of its training data (run.json "
                          "'feature_scale'); one with 'none' takes no scale")
    scale = None if feature_scale is None else tuple(float(x) for x in feature_scale)
    return dataclasses.replace(_unscaled_encoder(config), scale=scale)


def _unscaled_encoder(config: ModelConfig):
    """The TSM config's encoder without a feature scale (its channels, or to measure the scale)."""
    return make_encoder("hippo" if config.architecture == "tsm-hippo" else "frames", config.prefix,
                        config.hippo_measure, config.hippo_order, config.hippo_theta or None)


def training_feature_scale(config: ModelConfig, windows: WindowSource):
    """The ``feature_norm='rms'`` scale of ``config`` on a train store's windows (else None).

    RMS of each feature channel over :data:`FEATURE_SCALE_PREFIXES` prefixes
    spread evenly over the training trajectories.
    """
    if not config.temporal or config.feature_norm != "rms":
        return None
    return feature_rms(_unscaled_encoder(config), windows.prefixes(FEATURE_SCALE_PREFIXES))


def build_model(config: ModelConfig, seed: int) -> nnx.Module:
    """The model of ``config`` with initial weights from ``seed``."""
    tower = dict(order=config.order, hidden=config.hidden, depth=config.depth,
                 kernel=config.kernel, input_scale=config.input_scale,
                 decompose=config.decompose, rngs=nnx.Rngs(seed))
    if config.temporal:
        return TemporalStencilModel(_unscaled_encoder(config).channels, bundle=config.bundle,
                                    **tower)
    return LearnedInterpolation(**tower)


def build_solver(config: ModelConfig, seed: int, flow, size: int, name: str = "",
                 feature_scale=None):
    """The learned solver (LI or TSM) of ``config`` with initial weights from ``seed``.

    ``feature_scale``: see :func:`build_encoder`.
    """
    model = build_model(config, seed)
    if config.temporal:
        return TSMSolver.from_model(flow, size, model, build_encoder(config, feature_scale),
                                    limiter=config.limiter, name=name)
    return LearnedSolver.from_model(flow, size, model, limiter=config.limiter, name=name)


def window_loss(solver, window: jax.Array, kind: str) -> jax.Array:
    """Mean squared velocity error of ``M`` unrolled model steps against the window's last M frames.

    The window holds the prefix (``max(history_frames, 1)`` frames) and the M
    targets; a solver that bundles B steps per call is unrolled M / B calls.
    """
    k = max(history_frames(solver), 1)
    targets = window[k:]
    n_calls, remainder = divmod(targets.shape[0], substeps(solver))
    if remainder:
        raise ConfigError(f"unroll {targets.shape[0]} is not a multiple of solver "
                          f"{solver.name!r}'s {substeps(solver)} steps per call")

    state = solver.init(window[:k] if history_frames(solver) else window[0])
    # Unrolled in Python.  On XLA:CPU the backward pass of a rolled scan over the
    # conv layers was an order of magnitude slower (one-off profile), and even a
    # fully unrolled ``lax.scan`` of ONE call (a TSM window of one bundle, the
    # quickstart preset) is ~10x slower than this loop; with more calls the two are
    # alike (benchmarks/loss_unroll.py, benchmarks/results/loss_unroll_cpu.txt).
    predicted = []
    for _ in range(n_calls):
        state, velocities = step_with_velocities(solver, state)
        predicted.append(velocities)
    predicted = jnp.stack(predicted).reshape(targets.shape)
    squared = jnp.mean((predicted - targets) ** 2, axis=(1, 2, 3))
    if kind == "relative_mse":
        squared = squared / jnp.mean(targets ** 2, axis=(1, 2, 3))
    return jnp.mean(squared)


def cached_train_step(config: TrainConfig, flow, size: int, feature_scale=None):
    """The compiled train step of a config (shared by runs and resumes in one process).

    Fields that do not enter the step (data shape, logging, checkpointing,
    validation, seed) are normalised out of the cache key; ``feature_scale``
    (a ``feature_norm='rms'`` model's, see :func:`build_encoder`) is part of it.
    """
    key = dataclasses.replace(config, unroll=config.model.bundle if config.model.temporal else 1,
                              batch_size=1, checkpoint_every=1, keep_last=1,
                              validate_every=0, validation_samples=1, validation_horizon=1.0,
                              log_every=1, seed=0)
    scale = None if feature_scale is None else tuple(float(x) for x in feature_scale)
    return _train_step_for(key, flow, size, scale)


@functools.lru_cache(maxsize=4)
def _train_step_for(config: TrainConfig, flow, size: int, feature_scale=None):
    solver = build_solver(config.model, config.seed, flow, size, feature_scale=feature_scale)
    return make_train_step(solver, make_optimizer(config), config.loss)


def make_train_step(solver, optimizer: optax.GradientTransformation, loss_kind: str):
    """``(params, opt_state, skipped, batch) -> (params, opt_state, skipped, loss, grad_norm)``."""
    def loss_fn(params, batch):
        model_solver = solver.with_params(params)
        return jnp.mean(jax.vmap(lambda w: window_loss(model_solver, w, loss_kind))(batch))

    def train_step(params, opt_state, skipped, batch):
        loss, grads = jax.value_and_grad(loss_fn)(params, batch)
        grad_norm = optax.tree.norm(grads)
        updates, new_opt_state = optimizer.update(grads, opt_state, params)
        new_params = optax.apply_updates(params, updates)
        finite = jnp.isfinite(loss) & jnp.isfinite(grad_norm)
        keep = lambda new, old: jax.tree.map(lambda a, b: jnp.where(finite, a, b), new, old)
        return (keep(new_params, params), keep(new_opt_state, opt_state),
                skipped + (~finite).astype(jnp.int32), loss, grad_norm)

    return jax.jit(train_step, donate_argnums=(0, 1))


def validation_duration(solver, test: xr.Dataset, n_samples: int, horizon: float,
                        threshold: float = 0.8) -> float:
    """High-correlation duration of the sample-mean curve on the first test trajectories."""
    n_samples = min(n_samples, test.sizes["sample"])
    frame_dt = float(test.attrs["frame_dt"])
    horizon = min(horizon, float(test.time[-1]))
    n_frames = int(np.floor(horizon / frame_dt + 1e-6)) + 1
    result = rollout(solver, initial_inputs(test, solver, n_samples), n_frames,
                     steps_per_frame(solver, frame_dt), test.attrs["model_size"],
                     float(test.attrs["domain_size"]))
    dx = float(test.x[1] - test.x[0])
    pred = metrics.vorticity(result.frames[:, :, 0], result.frames[:, :, 1], dx)
    ref_u = test.u.values[:n_samples, :n_frames]
    ref = metrics.vorticity(ref_u, test.v.values[:n_samples, :n_frames], dx)
    curve = np.asarray(metrics.vorticity_correlation(pred, ref)).mean(axis=0)
    return float(metrics.high_correlation_duration(curve, test.time.values[:n_frames],
                                                   threshold=threshold, horizon=horizon))


def _run_record(config: TrainConfig, train_path: Path, train: xr.Dataset) -> dict:
    return {
        "train_config": json.loads(config.to_json()),
        "data": str(train_path.parent.resolve()),
        "preset": train.attrs["preset"],
        "model_size": int(train.attrs["model_size"]),
        "generation_key": train.attrs.get("generation_key", ""),
        "flow": json.loads(train.attrs["config_json"])["preset"]["flow"],
        "neuralpde_version": __version__,
        "jax_version": jax.__version__,
    }


def _comparable(train_config: dict) -> TrainConfig:
    """A run's config with the fields its model ignores reset (LI ignores the TSM fields).

    Also fills fields added to the config since the run was made with their
    defaults, so older run folders resume.
    """
    config = train_config_from_dict(train_config)
    if not config.model.temporal:
        defaults = ModelConfig()
        config = dataclasses.replace(config, model=dataclasses.replace(
            config.model, prefix=defaults.prefix, bundle=defaults.bundle,
            hippo_measure=defaults.hippo_measure, hippo_order=defaults.hippo_order,
            hippo_theta=defaults.hippo_theta, feature_norm=defaults.feature_norm))
    return config


def _check_same_run(run_dir: Path, record: dict) -> None:
    existing = json.loads((run_dir / "run.json").read_text())
    differing = sorted(k for k in ("preset", "model_size", "generation_key")
                       if existing.get(k) != record.get(k))
    if _comparable(existing["train_config"]) != _comparable(record["train_config"]):
        differing.insert(0, "train_config")
    if differing:
        raise ConfigError(f"{run_dir} holds a run with a different {differing}: "
                          "use another --out to start a new run")


def truncate_metrics(path: Path, last_step: int) -> None:
    """Drop metric lines written after the checkpoint a resumed run restarts from."""
    if not path.exists():
        return
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    kept = [line for line in lines if json.loads(line)["step"] <= last_step]
    if len(kept) < len(lines):  # leave a finished run's log untouched
        path.write_text("".join(line + "\n" for line in kept))


def _logged_progress(run_dir: Path) -> tuple:
    """``(last logged loss, best validation duration)`` of a run's log (nan / None if absent).

    A resumed or already finished run reports what its log holds for the steps
    it does not repeat.
    """
    loss, best = float("nan"), None
    if (run_dir / "metrics.jsonl").exists():
        for row in read_metrics(run_dir):
            if "loss" in row:
                loss = float(row["loss"])
            if "validation_duration" in row:
                duration = float(row["validation_duration"])
                best = duration if best is None else max(best, duration)
    return loss, best


def train(
    config: TrainConfig,
    data_dir,
    out_dir,
    progress: bool = True,
    stop_after: Optional[int] = None,
    devices=None,
) -> dict:
    """Train (or resume) a learned solver on ``data_dir/train.zarr``; returns a summary.

    ``stop_after``: return after this many steps of the whole run (as if the
    process were killed right after a checkpoint); for resume tests.
    """
    data_dir, run_dir = Path(data_dir), Path(out_dir)
    train_path = data_dir / "train.zarr"
    train_set = store.open_store(train_path, split="train")
    test = store.open_store(data_dir / "test.zarr", split="test",
                            model_size=train_set.attrs["model_size"])
    windows = WindowSource(train_set, config.unroll, config.seed,
                           prefix=config.model.prefix if config.model.temporal else 1)
    record = _run_record(config, train_path, train_set)
    if (run_dir / "run.json").exists():
        _check_same_run(run_dir, record)
        feature_scale = json.loads((run_dir / "run.json").read_text()).get("feature_scale")
    else:
        feature_scale = training_feature_scale(config.model, windows)
        if feature_scale is not None:
            record["feature_scale"] = list(feature_scale)
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "run.json").write_text(json.dumps(record, indent=2) + "\n")

    flow = reference_flow(train_set)
    size = int(train_set.attrs["model_size"])
    solver = build_solver(config.model, config.seed, flow, size, name=run_dir.name,
                          feature_scale=feature_scale)
    if config.model.temporal:  # fail before training if validation cannot run
        initial_inputs(test, solver, 1)
    optimizer = make_optimizer(config)
    schedule = learning_rate_schedule(config)
    mesh = batch_mesh(devices)
    if config.batch_size % mesh.size:
        raise ConfigError(f"invalid batch_size={config.batch_size}: accepted a multiple of the "
                          f"{mesh.size} local devices")
    params = jax.device_put(solver.params, replicated(mesh))
    opt_state = jax.device_put(optimizer.init(params), replicated(mesh))
    # placed like the train step's output, so the step compiles once (not again at step 2)
    skipped = jax.device_put(jnp.int32(0), replicated(mesh))
    checkpoints = Checkpoints(run_dir, config.keep_last)
    start = 0
    if checkpoints.latest_step() is not None:
        restored = checkpoints.restore(
            "last", {"params": params, "opt_state": opt_state, "step": 0, "skipped": skipped})
        params, opt_state = restored["params"], restored["opt_state"]
        start = int(restored["step"])
        skipped = jax.device_put(jnp.int32(restored["skipped"]), replicated(mesh))
    metrics_path = run_dir / "metrics.jsonl"
    truncate_metrics(metrics_path, start)

    train_step = cached_train_step(config, flow, size, feature_scale)
    sharding = batch_sharding(mesh)
    end = config.steps if stop_after is None else min(config.steps, stop_after)
    bar = progress_bar(progress, config.steps, f"train {run_dir.name}", initial=start)
    last_time, last_step = time.perf_counter(), start
    loss, best = _logged_progress(run_dir)
    try:
        with metrics_path.open("a") as log:
            for step in range(start, end):
                batch = shard_batch(jnp.asarray(windows.batch(step, config.batch_size)), sharding)
                params, opt_state, skipped, loss_, grad_norm = train_step(
                    params, opt_state, skipped, batch)
                done = step + 1
                bar.update(1)
                if done % config.log_every == 0 or done == config.steps:
                    loss = float(loss_)
                    now = time.perf_counter()
                    line = {"step": done, "loss": loss, "grad_norm": float(grad_norm),
                            "learning_rate": float(schedule(step)),
                            "steps_per_s": (done - last_step) / (now - last_time),
                            "skipped": int(skipped)}
                    last_time, last_step = now, done
                    bar.set_postfix(loss=f"{loss:.3g}")
                    log.write(json.dumps(line) + "\n")
                    log.flush()
                validate = (config.validate_every and done % config.validate_every == 0) \
                    or done == config.steps
                if validate:
                    duration = validation_duration(solver.with_params(params), test,
                                                   config.validation_samples,
                                                   config.validation_horizon)
                    log.write(json.dumps({"step": done, "validation_duration": duration}) + "\n")
                    log.flush()
                    checkpoints.save_best(done, {"params": params}, duration)
                    best = duration if best is None else max(best, duration)
                if done % config.checkpoint_every == 0 or done == config.steps:
                    checkpoints.save_last(done, {"params": params, "opt_state": opt_state,
                                                 "step": done, "skipped": skipped})
    finally:
        bar.close()
        checkpoints.close()
    return {"run": str(run_dir), "step": end, "loss": loss, "skipped": int(skipped),
            "best_validation_duration": best, "params": params, "device": device_name()}


def load_learned_solver(run_dir, test: Optional[xr.Dataset] = None, which: str = "best",
                        transfer: bool = False):
    """The trained solver of a run folder (``best`` checkpoint, else ``last``).

    Without ``transfer``, raises :class:`ConfigError` when ``test`` was made
    for another preset, grid or flow than the run's training data.  With
    ``transfer=True`` the trained stencil network runs on the test store's
    flow (viscosity, forcing, domain) and model grid instead — the
    generalisation experiments: the tower is a periodic convolution, so it
    applies to any grid with the same cells per unit length.
    """
    from neuralpde.physics.flows import flow_from_dict

    run_dir = Path(run_dir)
    if not (run_dir / "run.json").exists():
        raise ConfigError(f"{run_dir} is not a training run folder (no run.json): "
                          "train one with `neuralpde train`")
    record = json.loads((run_dir / "run.json").read_text())
    flow, size = flow_from_dict(record["flow"]), record["model_size"]
    if test is not None and transfer:
        flow, size = reference_flow(test), int(test.attrs["model_size"])
    elif test is not None:
        for key, found in (("preset", test.attrs["preset"]), ("model_size", test.attrs["model_size"])):
            if record[key] != found:
                raise ConfigError(f"run {run_dir} was trained for {key}={record[key]!r}; the test "
                                  f"store has {key}={found!r} (evaluate with --transfer to run "
                                  "the trained model on it anyway)")
        if reference_flow(test) != flow:
            raise ConfigError(f"run {run_dir} was trained on the flow {flow}; the test store holds "
                              f"{reference_flow(test)} (evaluate with --transfer to run the "
                              "trained model on it anyway)")
    config = train_config_from_dict(record["train_config"])
    solver = build_solver(config.model, config.seed, flow, size, name=run_dir.name,
                          feature_scale=record.get("feature_scale"))
    checkpoints = Checkpoints(run_dir, config.keep_last)
    try:
        source = which if (which == "last" or checkpoints.best_step() is not None) else "last"
        target = {"params": solver.params}
        if source == "last":  # the last checkpoints also hold the optimiser state
            target.update(opt_state=make_optimizer(config).init(solver.params), step=0,
                          skipped=jnp.int32(0))
        restored = checkpoints.restore(source, target)
    finally:
        checkpoints.close()
    return solver.with_params(restored["params"])


def read_metrics(run_dir) -> list[dict]:
    path = Path(run_dir) / "metrics.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


__all__ = ["build_model", "build_encoder", "build_solver", "training_feature_scale", "window_loss", "make_train_step", "validation_duration", "train",
           "load_learned_solver", "read_metrics", "cached_train_step"]
