"""The one scoring pipeline: roll a solver out on a store and score it against the reference.

:func:`score` is what ``neuralpde evaluate`` (:mod:`neuralpde.evaluation.evaluate`),
training validation (:func:`validation_duration`) and the studies in
``experiments/`` call, so every number the package prints about a solver
comes from the same rules:

1. **Samples and horizon** — :func:`neuralpde.store.reading.sample_count`
   and :func:`~neuralpde.store.reading.frames_for_horizon`: the first
   ``n_samples`` trajectories, frames ``0 .. floor(horizon / frame_dt)``; a
   horizon past the stored span or a sample count past the store is refused
   (:class:`~neuralpde.config.ConfigError`), never clipped.
2. **Start** — the solver starts from the reference: the model-grid frame 0,
   the stored finer-grid initial state for a solver on a finer grid, or the
   stored history for a solver with a memory
   (:func:`~neuralpde.store.reading.initial_inputs`).
3. **Rollout** — :func:`neuralpde.solvers.rollout.rollout` with
   ``frame_dt / solver.dt`` solver steps per frame (an integer, else
   ``ConfigError``), divergence recorded per sample.
4. **Comparison grid** — the solver's velocity face-averaged to the model
   grid and compared with the stored frames; a solver with a
   ``reference_view`` (one staggered sub-solver alone) is compared with that
   view of the reference on its own grid (:func:`neuralpde.solvers.base.reference_view`).
5. **Metrics** — :func:`neuralpde.evaluation.metrics.compute_metrics`
   (vorticity correlation, high-correlation duration, energy, enstrophy,
   spectra, relative L2 error), or only the correlation and durations
   (``metrics='correlation'``, what validation needs).
6. **Latency** — :func:`~neuralpde.solvers.rollout.measure_latency` on the
   first sample (batch 1, compile excluded), unless ``latency_duration`` is None.

In a multi-process job (``jax.distributed``) each process rolls out a block of
the samples and every process gets all of them
(:func:`neuralpde.solvers.rollout.rollout`), so every process computes the
same metrics; only process 0 measures the latency (the others report None).

A reference frame that is not finite (or a chunk that does not decode) is a
data fault, not a diverged solver: the store readers raise
:class:`~neuralpde.store.schema.StoreError` naming the store, the sample and
the time.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import xarray as xr

from neuralpde.config import ConfigError, require
from neuralpde.evaluation import metrics as metric_fns
from neuralpde.sharding import is_writer
from neuralpde.solvers.base import Solver, history_frames, input_size, observed_size, reference_view
from neuralpde.solvers.rollout import Rollout, measure_latency, rollout, steps_per_frame
from neuralpde.store.reading import (
    frames_for_horizon,
    initial_inputs,
    initial_states,
    reference_frames,
    sample_count,
)
from neuralpde.store.schema import OFFSETS, TRAJECTORY_DIMS, coordinate_attrs

METRIC_SETS = ("all", "correlation")


@dataclasses.dataclass(frozen=True)
class Score:
    """A scored rollout.

    Attributes:
      predicted: the solver's frames on the comparison grid, a dataset in the
        store schema (``u``, ``v`` over sample, time, x, y).
      reference: the reference frames on the same grid and times.
      metrics: :func:`~neuralpde.evaluation.metrics.compute_metrics` (or the
        correlation and :func:`~neuralpde.evaluation.metrics.duration_summary`
        variables only).
      rollout: frames and per-sample divergence.
      latency: seconds per simulated time unit, or None when not measured.
      horizon, threshold: what the durations were measured with.
      compared_on: ``'model grid'`` or the reference view, e.g.
        ``'sub-field (1, 1) of the model grid, 16²'``.
    """

    predicted: xr.Dataset
    reference: xr.Dataset
    metrics: xr.Dataset
    rollout: Rollout
    latency: float | None
    horizon: float
    threshold: float
    compared_on: str

    @property
    def duration_of_mean(self) -> float:
        """High-correlation duration of the sample-mean correlation curve (time units)."""
        return float(self.metrics["duration_of_mean"])

    @property
    def n_samples(self) -> int:
        return int(self.predicted.sizes["sample"])


def frames_dataset(frames: np.ndarray, samples, times, domain_size: float,
                   attrs: dict | None = None) -> xr.Dataset:
    """Frames ``(samples, time, 2, n, n)`` as a dataset in the store schema (cell-centre coords)."""
    n = frames.shape[-1]
    centres = (np.arange(n) + 0.5) * (domain_size / n)
    coords = {"sample": np.asarray(samples)[:frames.shape[0]],
              "time": ("time", np.asarray(times)[:frames.shape[1]],
                       coordinate_attrs("time", "time since end of warm-up")),
              "x": ("x", centres, coordinate_attrs("x", "x of cell centres")),
              "y": ("y", centres, coordinate_attrs("y", "y of cell centres"))}
    return xr.Dataset(
        {"u": (TRAJECTORY_DIMS, frames[:, :, 0], {"offset": list(OFFSETS["u"])}),
         "v": (TRAJECTORY_DIMS, frames[:, :, 1], {"offset": list(OFFSETS["v"])})},
        coords=coords, attrs=attrs or {})


def check_threshold(threshold: float) -> float:
    """``threshold`` as a float, if it is a high-correlation threshold: a number in (0, 1).

    Raises:
      ConfigError: for anything else (a bool, a string, 0, 1, ...), naming the value.
    """
    require(isinstance(threshold, (int, float)) and not isinstance(threshold, bool)
            and 0 < threshold < 1, "threshold", threshold, "a number in (0, 1)")
    return float(threshold)


def _checked_view(solver: Solver, model_size: int):
    """The solver's reference view (None: the model grid), if the solver can be scored on a
    store of this model grid (:class:`ConfigError` otherwise)."""
    view = reference_view(solver)
    observed = observed_size(solver)
    if view is None and (observed < model_size or observed % model_size):
        raise ConfigError(f"solver {solver.name!r} runs on a {observed}² grid; the store's "
                          f"model grid is {model_size}²: accepted a multiple of {model_size}")
    if view is not None and history_frames(solver):
        raise ConfigError(f"solver {solver.name!r} has both a memory and a reference view: "
                          "not supported")
    return view


def check_scoreable(solver: Solver, store: xr.Dataset) -> None:
    """Refuse, before any rollout, a solver this store cannot score: a grid that is not a
    multiple of the model grid, or initial inputs the store does not hold (an initial grid
    not stored, a history prefix longer than the stored one).

    Raises:
        ConfigError: the grids do not fit.
        StoreError: the store lacks the solver's initial inputs (the message says how to
            regenerate it).
    """
    view = _checked_view(solver, int(store.attrs["model_size"]))
    if view is None:
        initial_inputs(store, input_size(solver), 1, history_frames(solver),
                       f"solver {solver.name!r}")


def _start(solver: Solver, store: xr.Dataset, view, reference: np.ndarray, n_samples: int):
    """``(initial inputs, reference frames, output grid size, compared_on)``: on the model
    grid, or on the solver's view of the reference."""
    model_size = int(store.attrs["model_size"])
    if view is None:
        uv0 = initial_inputs(store, input_size(solver), n_samples, history_frames(solver),
                             f"solver {solver.name!r}")
        return uv0, reference, model_size, "model grid"
    uv0 = np.asarray(view(initial_states(store, model_size, n_samples)), np.float32)
    reference = np.asarray(view(reference), np.float32)
    output_size = reference.shape[-1]
    return (uv0, reference, output_size,
            f"{solver.view_name}, {output_size}²")


def score(
    solver: Solver,
    store: xr.Dataset,
    *,
    horizon: float | None = None,
    n_samples: int | None = None,
    threshold: float = 0.8,
    latency_duration: float | None = 1.0,
    metrics: str = "all",
    devices=None,
) -> Score:
    """Roll ``solver`` out from the store's initial states and score it (see the module docstring).

    Args:
      solver: any solver of the interface (:mod:`neuralpde.solvers.base`).
      store: an opened trajectory store (:func:`neuralpde.store.open_store`).
      horizon: time units scored (default: the store's whole span).
      n_samples: trajectories scored (default: all).
      threshold: high-correlation threshold, in (0, 1) (published 0.8).
      latency_duration: simulated time units timed for the latency (capped at
        the horizon), or None for no latency.
      metrics: ``'all'`` or ``'correlation'`` (correlation and durations only).
      devices: devices the rollout is sharded over (default: all local devices).

    Raises:
      ConfigError: bad samples, horizon or threshold, a solver grid that is not
        a multiple of the model grid, a step that does not divide the frame spacing.
      StoreError: the store lacks what the solver starts from, or a reference
        frame is not finite.
    """
    threshold = check_threshold(threshold)
    require(metrics in METRIC_SETS, "metrics", metrics, f"one of {list(METRIC_SETS)}")
    model_size = int(store.attrs["model_size"])
    domain = float(store.attrs["domain_size"])
    view = _checked_view(solver, model_size)
    n_samples = sample_count(store, n_samples)
    n_frames, horizon = frames_for_horizon(store, horizon)
    spf = steps_per_frame(solver, float(store.attrs["frame_dt"]))

    reference = reference_frames(store, n_samples, n_frames)  # refuses non-finite frames
    uv0, reference, output_size, compared_on = _start(solver, store, view, reference, n_samples)
    result = rollout(solver, uv0, n_frames, spf, output_size, domain, devices=devices)
    latency = (None if latency_duration is None or not is_writer() else  # process 0 times it
               measure_latency(solver, uv0[0], duration=min(latency_duration, horizon)))
    samples, times = store.sample.values, store.time.values
    attrs = {"solver": solver.name, "kind": solver.kind, "solver_size": solver.size,
             "dt": solver.dt, "model_size": model_size, "preset": store.attrs["preset"],
             "compared_on": compared_on}
    predicted = frames_dataset(result.frames, samples, times, domain, attrs)
    ref_ds = frames_dataset(reference, samples, times, domain)
    if metrics == "all":
        scores = metric_fns.compute_metrics(predicted, ref_ds, threshold=threshold, horizon=horizon)
    else:
        correlation = metric_fns.correlation_da(predicted, ref_ds)
        scores = xr.merge([correlation, metric_fns.duration_summary(correlation, threshold,
                                                                     horizon)])
    return Score(predicted=predicted, reference=ref_ds, metrics=scores, rollout=result,
                 latency=latency, horizon=horizon, threshold=threshold, compared_on=compared_on)


def validation_duration(solver: Solver, store: xr.Dataset, n_samples: int, horizon: float,
                        threshold: float = 0.8, devices=None) -> float:
    """High-correlation duration of the sample-mean curve on the first ``n_samples`` trajectories.

    The training loop's validation: :func:`score` without latency, with the
    correlation only.
    """
    return score(solver, store, horizon=horizon, n_samples=n_samples, threshold=threshold,
                 latency_duration=None, metrics="correlation", devices=devices).duration_of_mean


__all__ = ["METRIC_SETS", "Score", "frames_dataset", "check_threshold", "check_scoreable", "score",
           "validation_duration"]
