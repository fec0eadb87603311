r"""The one training loop, for every learned kind: resume, logging, skipped updates, checkpoints.

:func:`train` builds the kind's :class:`~neuralpde.training.task.Task` from
the config (the kind's entry in the table of learned kinds,
:data:`neuralpde.training.kinds.KINDS`: learned interpolation and TSM on
store windows, the staggered sub-solvers on a state pool) and runs :func:`fit`:

1. **Run folder.**  A new folder gets ``run.json``
   (:func:`neuralpde.training.runs.make_record`) once everything has been
   validated, so a refused command leaves nothing behind; an existing one must
   hold the same run (:func:`~neuralpde.training.runs.check_same_run`) and is
   resumed from its last checkpoint.  The batches depend on the step number
   only, so a resumed run reproduces the uninterrupted parameters.
2. **Updates.**  Parameters, optimiser state and the task's extras are
   replicated over the devices of every process (one process: its local
   devices; several: ``jax.distributed``, :mod:`neuralpde.sharding`); the
   task's batch is split over them, each process feeding its own rows.
   Process 0 alone writes ``run.json``, the log and the TensorBoard events;
   every process takes part in the orbax checkpoints.
   An update whose loss or gradient norm is not finite is skipped (the
   parameters and optimiser state are kept) and counted.
3. **Log.**  ``metrics.jsonl``: a line after the first step, every
   ``log_every`` steps and after the last (``step``, the task's stats such as
   ``loss`` and ``grad_norm``, ``learning_rate``, ``steps_per_s``,
   ``skipped``); a resumed run first drops the lines past its checkpoint.
4. **Validation.**  Every ``validate_every`` steps and at the end, when the
   task has a validation store: the high-correlation duration of the sample-mean
   curve (:func:`neuralpde.evaluation.scoring.validation_duration`, the same
   pipeline ``neuralpde evaluate`` uses) on ``validation_samples``
   trajectories over ``validation_horizon`` time units; the best parameters
   by it are kept in ``checkpoints/best/``.
5. **Checkpoints.**  Every ``checkpoint_every`` steps and at the end:
   parameters, optimiser state, step, skipped count and the extras
   (``checkpoints/last/``, the last ``keep_last`` kept; orbax writes them
   atomically).
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp

from neuralpde.config import ConfigError, require
from neuralpde.evaluation.results import check_out_dir
from neuralpde.evaluation.scoring import validation_duration
from neuralpde.interrupts import Interrupted, requested_signal, safe_points, stop_requested
from neuralpde.outputs import exclusive, write_text_atomic
from neuralpde.physics.flows import FlowSpec
from neuralpde.progress import progress_bar
from neuralpde.sharding import (
    barrier,
    global_mesh,
    in_process_0,
    is_writer,
    local_copy,
    process_max,
    replicated,
    together,
)
from neuralpde.solvers.base import substeps
from neuralpde.solvers.rollout import device_name, steps_per_frame
from neuralpde.training import runs
from neuralpde.training.checkpoint import Checkpoints
from neuralpde.training.kinds import kind_of
from neuralpde.training.optim import learning_rate_schedule, make_optimizer
from neuralpde.training.run_folder import RunFolder
from neuralpde.training.task import Task
from neuralpde.training.tensorboard import TensorBoardLog


def _stat(value):
    value = jnp.asarray(value)
    return int(value) if jnp.issubdtype(value.dtype, jnp.integer) else float(value)


def _call_misfit(config, solver, frame_dt: float) -> str | None:
    """Why the option setting the steps per network call (``--bundle``, a staggered run's
    ``--s-time``) does not fit the validation frames, in the options' words; None when
    the frame spacing is not a whole number of the solver's own steps either."""
    staggered = hasattr(config.model, "s_time")
    option, unit = ("--s-time", "fine step") if staggered else ("--bundle", "model step")
    calls = int(config.model.s_time) if staggered else substeps(solver)
    spacing = frame_dt / (solver.dt / calls)
    if abs(spacing - round(spacing)) > 1e-6 * spacing or round(spacing) < 1:
        return None
    spacing = round(spacing)
    divisors = [d for d in range(1, spacing + 1) if spacing % d == 0]
    return (f"{option} {calls}: {calls} {unit}s per network call do not divide the validation "
            f"store's frame spacing of {spacing} {unit}{'s' if spacing > 1 else ''}; accepted "
            f"a{'n' if staggered else ''} {option} dividing {spacing}"
            + (f" ({', '.join(map(str, divisors))})" if spacing > 1 else ""))


def _check_validation(store, config, solver) -> None:
    """Refuse what the validation store cannot score (:class:`ConfigError`): more samples or a
    longer horizon than it holds, or a solver step (a TSM bundle, a staggered ``s_time``) that
    does not divide its frame spacing — before any update, not at the first validation."""
    frame_dt = float(store.attrs["frame_dt"])
    try:
        steps_per_frame(solver, frame_dt)
    except ConfigError as error:
        message = _call_misfit(config, solver, frame_dt)
        if message is None:
            raise
        raise ConfigError(message) from error
    available = int(store.sizes["sample"])
    require(config.validation_samples <= available, "validation_samples",
            config.validation_samples, f"1..{available} (the validation store's trajectories)")
    span = float(store.time.values[-1] - store.time.values[0])
    require(config.validation_horizon <= span + 1e-9, "validation_horizon",
            config.validation_horizon, f"(0, {span:g}] (the validation store's span in time "
                                       "units)")


def _start_record(run_dir: Path, record: dict, writer: bool) -> None:
    """Check an existing run's ``run.json`` against ``record``, or (process 0) write it."""
    if RunFolder(run_dir).record.exists():
        runs.check_same_run(run_dir, runs.read_record(run_dir), record)
    elif writer:
        run_dir.mkdir(parents=True, exist_ok=True)
        write_text_atomic(RunFolder(run_dir).record, json.dumps(record, indent=2) + "\n")


@dataclasses.dataclass(frozen=True)
class TrainResult:
    """What a training call returns (:func:`fit`, :func:`train`).

    Attributes:
        run: the run folder.
        step: the updates done (the whole run's, resumed ones included).
        loss: the last logged training loss (of this call, or read from the
            run's metrics when this call logged nothing, e.g. a finished run
            re-run; NaN when the run has logged none).
        skipped: updates skipped for a non-finite loss or gradient.
        best_validation_duration: the best validation high-correlation
            duration [time units], None without validation.
        params: the parameters, on this process.
        solver: the trained solver (``task.solver.with_params(params)``).
        seconds: wall-clock of this call, compilation included.
        device: the JAX device it ran on (``platform: kind xN``).
    """

    run: str
    step: int
    loss: float
    skipped: int
    best_validation_duration: float | None
    params: Any
    solver: Any
    seconds: float
    device: str


def fit(task: Task, config, run_dir, progress: bool = True, stop_after: int | None = None,
        devices=None) -> TrainResult:
    """Run (or resume) the loop of the module docstring for ``task``.

    ``config``: the run's :class:`~neuralpde.training.config.LoopConfig`
    subclass.  ``stop_after``: return after this many steps of the whole run
    (as if the process were killed right after a checkpoint); for resume tests.

    Returns a :class:`TrainResult`.  Raises
    :class:`~neuralpde.outputs.OutputBusyError` when another process trains in
    ``run_dir`` (lock file ``run_dir/.neuralpde.lock``), and
    :class:`~neuralpde.interrupts.Interrupted` after a SIGINT/SIGTERM under
    the CLI (the current step's checkpoint saved first).
    """
    started = time.perf_counter()
    run_dir = Path(run_dir)
    record = runs.make_record(config, task.record)
    if task.validation is not None:  # refuse a validation that cannot run before any work
        _check_validation(task.validation, config, task.solver)
    what = f"the run folder {run_dir}"
    with in_process_0(lambda: exclusive(run_dir, what=what), what):
        return _fit(task, config, run_dir, record, progress, stop_after, devices, started)


def _fit(task, config, run_dir, record, progress, stop_after, devices,
         started) -> TrainResult:
    """The body of :func:`fit`, run while holding the run folder's lock."""
    writer = is_writer()
    together(lambda: _start_record(run_dir, record, writer), f"the run folder {run_dir}")
    barrier("neuralpde-run-record")  # run.json exists before any process goes on
    optimizer = make_optimizer(config)
    placed = replicated(global_mesh(devices))
    checkpoints = Checkpoints(run_dir, config.keep_last)
    try:
        state = _initial_state(task, optimizer, checkpoints, placed)
    except BaseException:
        checkpoints.close()
        raise
    start = state["step"]
    metrics_path = RunFolder(run_dir).metrics
    if writer:
        runs.truncate_metrics(metrics_path, start)
    barrier("neuralpde-metrics-cut")  # every process reads the log as process 0 cut it
    end = config.steps if stop_after is None else min(config.steps, stop_after)
    bar = progress_bar(progress and writer, config.steps, f"train {run_dir.name}",
                       initial=start)
    loss, best = runs.logged_progress(run_dir)
    board = TensorBoardLog(run_dir, first_step=start + 1)
    try:
        with (metrics_path.open("a") if writer else open(os.devnull, "w")) as log, \
                safe_points():
            metrics = _Metrics(log, board, learning_rate_schedule(config), start)
            loss, best = _train_steps(task, config, state, end, checkpoints, bar, metrics,
                                      loss, best, run_dir)
    finally:
        bar.close()
        board.close()
        checkpoints.close()
    params = local_copy(state["params"])
    return TrainResult(run=str(run_dir), step=end, loss=loss, skipped=int(state["skipped"]),
                       best_validation_duration=best, params=params,
                       solver=task.solver.with_params(params),
                       seconds=time.perf_counter() - started, device=device_name())


def _initial_state(task, optimizer, checkpoints: Checkpoints, placed) -> dict:
    """The training state placed on the devices: fresh, or the last checkpoint's.

    Keys: ``params``, ``opt_state``, ``extras`` (the task's), ``skipped`` (a
    device int32) and ``step`` (a Python int).
    """
    params = jax.device_put(task.solver.params, placed)
    opt_state = jax.device_put(optimizer.init(params), placed)
    extras = jax.device_put(task.extras, placed)
    # placed like the train step's output, so the step compiles once (not again at step 2)
    skipped = jax.device_put(jnp.int32(0), placed)
    state = {"params": params, "opt_state": opt_state, "extras": extras, "skipped": skipped,
             "step": 0}
    if checkpoints.latest_step() is not None:
        restored = checkpoints.restore("last", {"params": params, "opt_state": opt_state,
                                                "step": 0, "skipped": skipped, **extras})
        state.update(params=restored["params"], opt_state=restored["opt_state"],
                     extras={key: restored[key] for key in extras},
                     step=int(restored["step"]),
                     skipped=jax.device_put(jnp.int32(restored["skipped"]), placed))
    return state


class _Metrics:
    """The metrics log (``metrics.jsonl`` and TensorBoard) and the update rate since the
    last line."""

    def __init__(self, log, board: TensorBoardLog, schedule, start: int):
        self.log, self.board, self.schedule = log, board, schedule
        self.last_time, self.last_step = time.perf_counter(), start

    def write(self, line: dict) -> None:
        self.log.write(json.dumps(line) + "\n")
        self.log.flush()
        self.board.write(line)

    def training_line(self, step: int, stats: dict, skipped) -> dict:
        """Write and return the line of update ``step`` (0-based): its stats, learning rate,
        updates per second since the last line and skipped updates."""
        done, now = step + 1, time.perf_counter()
        line = {"step": done, **{k: _stat(v) for k, v in stats.items()},
                "learning_rate": float(self.schedule(step)),
                "steps_per_s": (done - self.last_step) / (now - self.last_time),
                "skipped": int(skipped)}
        self.last_time, self.last_step = now, done
        self.write(line)
        return line


def _train_steps(task, config, state: dict, end: int, checkpoints: Checkpoints, bar,
                 metrics: _Metrics, loss, best, run_dir: Path):
    """Updates ``state['step']`` .. ``end`` - 1, with logging, validation and checkpoints
    (``state`` is updated in place); returns the last logged loss and the best validation
    duration."""
    for step in range(state["step"], end):
        (state["params"], state["opt_state"], state["extras"], state["skipped"],
         stats) = task.step_fn(state["params"], state["opt_state"], state["extras"],
                               state["skipped"], task.batch(step), jnp.int32(step))
        done = step + 1
        bar.update(1)
        if done % config.log_every == 0 or done == config.steps or done == 1:
            loss = metrics.training_line(step, stats, state["skipped"])["loss"]
            bar.set_postfix(loss=f"{loss:.3g}")
        if task.validation is not None and (
                (config.validate_every and done % config.validate_every == 0)
                or done == config.steps):
            duration = validation_duration(task.solver.with_params(local_copy(state["params"])),
                                           task.validation, config.validation_samples,
                                           config.validation_horizon)
            metrics.write({"step": done, "validation_duration": duration})
            checkpoints.save_best(done, {"params": state["params"]}, duration)
            best = duration if best is None else max(best, duration)
        saved = done % config.checkpoint_every == 0 or done == config.steps
        # a signal to any process stops every process after this step
        signum = process_max(requested_signal() if stop_requested() else 0)
        if saved or signum:
            checkpoints.save_last(done, {"params": state["params"],
                                         "opt_state": state["opt_state"], "step": done,
                                         "skipped": state["skipped"], **state["extras"]})
        if signum and done < end:
            raise Interrupted(f"stopped at step {done} of {config.steps}; its checkpoint "
                              f"is saved in {RunFolder(run_dir).last_checkpoints}: re-run "
                              "the same command to resume", signum)
    return loss, best


def train(config, out_dir, data_dir=None, flow: FlowSpec | None = None, progress: bool = True,
          stop_after: int | None = None, devices=None) -> TrainResult:
    """Train (or resume) a learned solver of any kind in the run folder ``out_dir``.

    Args:
      config: a :class:`~neuralpde.training.config.TrainConfig` (LI, TSM;
        needs ``data_dir``) or a :class:`~neuralpde.training.config.StaggerTrainConfig`.
      out_dir: the run folder (created; an existing one of the same run resumes).
      data_dir: folder holding ``train.zarr`` and ``validation.zarr`` (the
        test split is never read by training).
      flow: the flow of a physics-only staggered run without ``data_dir``.
      progress: show a progress bar.
      stop_after: see :func:`fit`.
      devices: devices the batch is split over (default: every process's devices).

    Returns the :class:`TrainResult` of :func:`fit`.  Raises
    :class:`~neuralpde.config.ConfigError` /
    :class:`~neuralpde.store.schema.StoreError` /
    :class:`~neuralpde.training.checkpoint.CheckpointError` (all
    :class:`~neuralpde.config.UserInputError`) before any update when the
    config, the data or the run folder cannot serve the run.
    """
    run_dir = Path(out_dir)
    if data_dir is not None:
        try:
            check_out_dir(run_dir, data_dir, advice="a run goes to a folder of its own (e.g. "
                                                    "--out runs/mini/li)")
        except OSError:  # a path that cannot be resolved: the store's opening reports it
            pass
    existing = runs.read_record(run_dir) if RunFolder(run_dir).record.exists() else None
    kind = kind_of(config)
    config = kind.prepare(config, data_dir)
    task = kind.task(config, data_dir, flow, run_dir.name, existing, devices)
    return fit(task, config, run_dir, progress=progress, stop_after=stop_after, devices=devices)


__all__ = ["TrainResult", "fit", "train"]
