"""Rollouts produced elsewhere (a PyTorch FNO, a U-Net, another code), scored like any solver.

``neuralpde evaluate --solver file:PATH`` reads a rollout file and scores it
against the test store with the same rules, metrics, results folder and
``compare`` row as the package's own solvers (:mod:`neuralpde.evaluation.scoring`).

**The rollout file** (zarr folder, or netCDF ``.nc``), one of:

* ``u``, ``v`` — velocity on the staggered (MAC) grid of the test store's
  model grid, dims ``(sample, time, x, y)``: ``u`` at the x-faces
  ``((i+1)Δ, (j+½)Δ)``, ``v`` at the y-faces ``((i+½)Δ, (j+1)Δ)``,
  Δ = L/N, exactly as the store holds them.  Every metric is computed.
* ``vorticity`` alone — ω = ∂v/∂x − ∂u/∂y, dims ``(sample, time, x, y)``, at
  the cell corners ``((i+1)Δ, (j+1)Δ)`` where the package's own vorticity
  lives (:func:`neuralpde.physics.diagnostics.vorticity`), or at the cell
  centres when the variable's ``offset`` attribute is ``[0.5, 0.5]`` (it is then
  moved to the corners by band-limited Fourier interpolation).  The
  correlation, the high-correlation durations and the enstrophy are computed;
  the energy, the relative L2 velocity error and the spectra need the
  velocity and are skipped (the summary lists them under ``skipped_metrics``).

Coordinates: ``sample`` = the test store's sample labels (the first S
trajectories, in order), ``time`` = the test store's frame times from 0 (the
initial frame included, i.e. ``0, frame_dt, 2 frame_dt, ...``; any number of
frames up to the store's).  ``x``/``y`` coordinates, if present, are not read
(the positions are the convention above).  Optional global attributes:
``solver`` (the row's name: letters, digits, ``. _ + -``, at most 100
characters, not starting with a dot; otherwise, or without it, the file name
without suffix, reduced to such a name),
``latency_s_per_time_unit`` and ``device`` (the row then carries that latency;
without it the row has none).  A non-finite value is the model's divergence,
as for the package's solvers: the sample's correlation is NaN from that frame
on (recorded in ``diverged_times``).  Frame 0 must be the store's initial
state: a sample-mean correlation below 0.99 there is warned about (a missing
frame 0, transposed axes or an unstated vorticity offset).

:func:`rollout_dataset` builds such a dataset from NumPy arrays (a PyTorch
tensor: ``tensor.detach().cpu().numpy()``) and the test store.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from pathlib import Path

import numpy as np
import xarray as xr

from neuralpde.config import ConfigError, UserInputError
from neuralpde.evaluation import metrics as metric_fns
from neuralpde.evaluation.results import check_results_name, results_name
from neuralpde.evaluation.scoring import Score, check_threshold, frames_dataset
from neuralpde.physics.decompose import fourier_shift
from neuralpde.solvers.names import EXTERNAL_PREFIX
from neuralpde.solvers.rollout import NOT_DIVERGED, Rollout
from neuralpde.store.reading import (
    frames_for_horizon,
    open_data_set,
    reference_frames,
    sample_count,
)
from neuralpde.store.schema import TRAJECTORY_DIMS

#: The solver-name prefix of an external rollout file.
#: Metrics that need the velocity (skipped for a vorticity-only rollout).
VELOCITY_METRICS = ("energy", "relative_l2", "spectrum")
#: Frame 0 of a rollout is the test store's initial state: a lower sample-mean correlation
#: there means a misaligned file (frame 0 missing, x/y transposed, vorticity offset unsaid).
FRAME0_CORRELATION = 0.99
#: Where a vorticity may sit (cell offsets); the package's vorticity is at (1, 1).
VORTICITY_OFFSETS = ((1.0, 1.0), (0.5, 0.5))


class ExternalRolloutError(UserInputError, ValueError):
    """A rollout file that cannot be scored against the test store (the reason names both)."""


@dataclasses.dataclass(frozen=True)
class ExternalRollout:
    """A validated external rollout: frames of the store's first samples from t = 0.

    Attributes:
      path: the file.
      name: the row's name (the ``solver`` attribute, else the file's stem).
      frames: ``(samples, frames, 2, N, N)`` velocity, or ``(samples, frames, N, N)``
        vorticity at the cell corners.
      has_velocity: which of the two ``frames`` holds.
      latency: seconds per simulated time unit stated by the file, or None.
      device: the device the file states, or ``''``.
      horizon: the time units scored (the durations are capped there).
    """

    path: Path
    name: str
    frames: np.ndarray
    has_velocity: bool
    latency: float | None
    device: str
    horizon: float

    @property
    def kind(self) -> str:
        return "external"

    @property
    def skipped_metrics(self) -> list[str]:
        return [] if self.has_velocity else list(VELOCITY_METRICS)


def rollout_dataset(store: xr.Dataset, *, u=None, v=None, vorticity=None, solver: str = "",
                    latency: float | None = None, device: str = "") -> xr.Dataset:
    """A rollout dataset in the layout of the module docstring, ready for ``.to_zarr(PATH)``.

    Args:
      store: the test store the rollout starts from (:func:`neuralpde.store.open_store`).
      u: x-velocity ``(samples, frames, N, N)`` on the store's MAC grid (with
        ``v``; or pass ``vorticity`` alone).  Frame 0 is t = 0 (the store's
        initial frame); ``samples`` are the store's first.
      v: y-velocity, as ``u``.
      vorticity: ``(samples, frames, N, N)`` at the cell corners, instead of
        ``u`` and ``v``; frames and samples as ``u``.
      solver: the row's name in tables (default: the file name).
      latency: seconds per simulated time unit.
      device: where ``latency`` was measured.

    Raises :class:`ExternalRolloutError` for arrays that do not fit the store.
    """
    if (u is None) != (v is None) or (u is None) == (vorticity is None):
        raise ExternalRolloutError("pass u and v (velocity) or vorticity alone")
    arrays = {"u": u, "v": v} if u is not None else {"vorticity": vorticity}
    arrays = {k: np.asarray(a, dtype=np.float32) for k, a in arrays.items()}
    shapes = {a.shape for a in arrays.values()}
    n = int(store.attrs["model_size"])
    shape = next(iter(shapes))
    if len(shapes) > 1 or len(shape) != 4 or shape[2:] != (n, n):
        raise ExternalRolloutError(f"arrays of shape {sorted(shapes)}: accepted (samples, frames, "
                                   f"{n}, {n}) (the store's model grid), u and v alike")
    samples, frames = shape[:2]
    if samples > store.sizes["sample"] or frames > store.sizes["time"]:
        raise ExternalRolloutError(
            f"{samples} samples x {frames} frames: the store holds {store.sizes['sample']} x "
            f"{store.sizes['time']}")
    attrs = {k: val for k, val in (("solver", solver), ("latency_s_per_time_unit", latency),
                                   ("device", device)) if val not in ("", None)}
    coords = {"sample": store.sample.values[:samples], "time": store.time.values[:frames],
              "x": store.x.values, "y": store.y.values}
    return xr.Dataset({k: (TRAJECTORY_DIMS, a) for k, a in arrays.items()}, coords=coords,
                      attrs=attrs)


def _open(path: Path) -> xr.Dataset:
    return open_data_set(path, missing="rollout file {path} does not exist",
                         error=ExternalRolloutError)


def _valid_name(name: str) -> bool:
    """Whether a stated ``solver`` attribute is a safe results-folder name."""
    try:
        check_results_name(name)
    except ConfigError:
        return False
    return True


def open_rollout(path, store: xr.Dataset, n_samples: int | None = None,
                 horizon: float | None = None) -> ExternalRollout:
    """Read and validate a rollout file against the test ``store`` (module docstring).

    ``n_samples`` (default: the file's) and ``horizon`` (default: the file's
    span) select what is scored; both must lie within the file and the store.
    Raises :class:`ExternalRolloutError` naming the file and what is accepted.
    """
    path = Path(path)
    ds = _open(path)
    stated = str(ds.attrs.get("solver", ""))
    name = stated if _valid_name(stated) else results_name(path.name.split(".")[0] or path.name)
    where = f"rollout file {path}"
    names = _variables(ds, where, int(store.attrs["model_size"]))
    n_samples = _samples(ds, store, where, n_samples)
    n_frames, horizon = _frames_scored(ds, store, where, horizon)
    frames = _read_frames(ds, names, where, n_samples, n_frames)
    latency = _latency(ds, where)
    device = str(ds.attrs.get("device", ""))
    ds.close()
    return ExternalRollout(path=path, name=name, frames=frames, has_velocity=names == ("u", "v"),
                           latency=latency, device=device, horizon=float(horizon))


def _variables(ds: xr.Dataset, where: str, n: int) -> tuple[str, ...]:
    """``('u', 'v')`` or ``('vorticity',)``: the variables scored, checked (dims, grid)."""
    velocity = {"u", "v"} <= set(ds.data_vars)
    if not velocity and "vorticity" not in ds.data_vars:
        raise ExternalRolloutError(f"{where} holds {sorted(ds.data_vars)}: accepted u and v "
                                   "(velocity) or vorticity")
    names = ("u", "v") if velocity else ("vorticity",)
    for var in names:
        if tuple(ds[var].dims) != TRAJECTORY_DIMS:
            raise ExternalRolloutError(f"{where}: {var} has dims {tuple(ds[var].dims)}: accepted "
                                       f"{TRAJECTORY_DIMS}")
        if (ds.sizes["x"], ds.sizes["y"]) != (n, n):
            raise ExternalRolloutError(
                f"{where}: {var} is on a {ds.sizes['x']}x{ds.sizes['y']} grid; the test store's "
                f"model grid is {n}x{n}")
        if ds[var].dtype.kind != "f":
            raise ExternalRolloutError(f"{where}: {var} holds {ds[var].dtype} values: accepted "
                                       "floating-point values (float32 or float64)")
    return names


def _samples(ds: xr.Dataset, store: xr.Dataset, where: str, n_samples: int | None) -> int:
    """The samples scored: the store's first S, in order, all in the file."""
    file_samples = np.asarray(ds["sample"].values) if "sample" in ds.coords else None
    available = int(ds.sizes["sample"])
    stored = np.asarray(store.sample.values)
    if available > stored.size or (file_samples is not None
                                   and not np.array_equal(file_samples, stored[:available])):
        raise ExternalRolloutError(
            f"{where} has samples {_short(file_samples, available)}: accepted the test store's "
            f"first samples in order, {_short(stored, stored.size)}")
    n_samples = sample_count(store, available if n_samples is None else n_samples)
    if n_samples > available:
        raise ExternalRolloutError(f"{where} holds {available} samples; {n_samples} requested")
    return n_samples


def _frames_scored(ds: xr.Dataset, store: xr.Dataset, where: str,
                   horizon: float | None) -> tuple[int, float]:
    """``(frames, horizon)`` scored: the file's times must be the store's frame times from 0."""
    if "time" not in ds.coords:
        raise ExternalRolloutError(f"{where} has no time coordinate: accepted the test store's "
                                   "frame times from 0")
    times = np.asarray(ds["time"].values, dtype=float)
    stored_times = np.asarray(store.time.values, dtype=float)
    frame_dt = float(store.attrs["frame_dt"])
    if (times.size > stored_times.size or not np.all(np.isfinite(times))
            or np.max(np.abs(times - stored_times[:times.size])) > 1e-6 * frame_dt):
        raise ExternalRolloutError(
            f"{where} has times {_short(times, times.size)}: accepted the test store's frame "
            f"times from {stored_times[0]:g} every {frame_dt:g} (the initial frame included), up "
            f"to {stored_times[-1]:g}")
    span = float(times[-1] - times[0])
    horizon = span if horizon is None else horizon
    if not (isinstance(horizon, (int, float)) and math.isfinite(horizon) and horizon > 0):
        raise ExternalRolloutError(f"horizon {horizon!r}: accepted a finite number > 0")
    n_frames, horizon = frames_for_horizon(store, horizon)  # refuses one past the store
    if n_frames > times.size:
        raise ExternalRolloutError(
            f"horizon {horizon:g} needs frames up to t = {(n_frames - 1) * frame_dt:g}; {where} "
            f"ends at t = {span:g}: accepted (0, {span + frame_dt:g}) (its span plus less than "
            "one frame)")
    return n_frames, horizon


def _read_frames(ds: xr.Dataset, names: tuple[str, ...], where: str, n_samples: int,
                 n_frames: int) -> np.ndarray:
    """The frames scored: velocity ``(S, T, 2, N, N)`` or corner vorticity ``(S, T, N, N)``."""
    data = [np.asarray(ds[var].isel(sample=slice(0, n_samples), time=slice(0, n_frames)).values,
                       np.float32) for var in names]
    if names == ("u", "v"):
        return np.stack(data, axis=2)
    frames = data[0]
    offset = tuple(float(x) for x in np.ravel(ds["vorticity"].attrs.get("offset", (1, 1))))
    if offset not in VORTICITY_OFFSETS:
        raise ExternalRolloutError(f"{where}: vorticity offset {list(offset)}: accepted "
                                   f"{[list(o) for o in VORTICITY_OFFSETS]} (cell corners "
                                   "or centres, in cells)")
    if offset != (1.0, 1.0):  # centres -> corners
        frames = fourier_shift(frames, (1 - offset[0], 1 - offset[1]))
    return frames


def _latency(ds: xr.Dataset, where: str) -> float | None:
    """The file's ``latency_s_per_time_unit`` (None when absent or not a number)."""
    latency = ds.attrs.get("latency_s_per_time_unit")
    try:
        latency = None if latency is None else float(latency)
    except (TypeError, ValueError):
        latency = None
    if latency is not None and not (math.isfinite(latency) and latency > 0):
        raise ExternalRolloutError(f"{where}: latency_s_per_time_unit={latency!r}: accepted a "
                                   "finite number > 0, or no attribute")
    return latency


def _short(values, count: int) -> str:
    if values is None:
        return f"{count} unlabelled"
    values = np.asarray(values).tolist()
    text = ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in values[:4])
    return f"[{text}{', ...' if len(values) > 4 else ''}] ({len(values)})"


def score_rollout(rollout: ExternalRollout, store: xr.Dataset, *, threshold: float = 0.8) -> Score:
    """Score an external rollout against the store, as :func:`~neuralpde.evaluation.scoring.score`
    scores a solver (same alignment, metrics, durations; divergence = first non-finite frame).

    The ``Score``'s ``rollout`` has ``dt`` = the frame spacing and one step per
    frame; ``latency`` is the file's (or None).
    """
    threshold = check_threshold(threshold)
    n_samples, n_frames = rollout.frames.shape[:2]
    model_size = int(store.attrs["model_size"])
    domain = float(store.attrs["domain_size"])
    frame_dt = float(store.attrs["frame_dt"])
    horizon = rollout.horizon
    reference = reference_frames(store, n_samples, n_frames)  # refuses non-finite frames
    samples, times = store.sample.values, store.time.values
    ref_ds = frames_dataset(reference, samples, times, domain)
    attrs = {"solver": rollout.name, "kind": rollout.kind, "solver_size": model_size,
             "model_size": model_size, "preset": store.attrs["preset"],
             "compared_on": "model grid", "source": f"{EXTERNAL_PREFIX}{rollout.path.resolve()}"}
    finite = np.isfinite(rollout.frames.reshape(n_samples, n_frames, -1)).all(axis=2)
    diverged = np.where(finite.all(axis=1), NOT_DIVERGED, np.argmin(finite, axis=1))
    if rollout.has_velocity:
        predicted = frames_dataset(rollout.frames, samples, times, domain, attrs)
        scores = metric_fns.compute_metrics(predicted, ref_ds, threshold=threshold,
                                            horizon=horizon)
    else:
        coords = {"sample": samples[:n_samples], "time": times[:n_frames],
                  "x": ref_ds.x.values, "y": ref_ds.y.values}
        predicted = xr.Dataset({"vorticity": (TRAJECTORY_DIMS, rollout.frames,
                                              {"offset": [1.0, 1.0]})}, coords=coords, attrs=attrs)
        scores = vorticity_metrics(predicted["vorticity"], metric_fns.vorticity_da(ref_ds),
                                   threshold, horizon)
    first = float(np.nanmean(scores["correlation"].isel(time=0).values))
    if not first >= FRAME0_CORRELATION:
        warnings.warn(
            f"{rollout.path}: frame 0 correlates {first:.3f} with the test store's t = 0 state "
            f"(a rollout starts from it: expected >= {FRAME0_CORRELATION}); check that frame 0 "
            "is the initial state (not the first prediction), that x and y are not transposed, "
            "and the vorticity's offset", stacklevel=2)
    result = Rollout(frames=rollout.frames, diverged_step=diverged.astype(np.int64),
                     dt=frame_dt, steps_per_frame=1)
    return Score(predicted=predicted, reference=ref_ds, metrics=scores, rollout=result,
                 latency=rollout.latency, horizon=horizon, threshold=threshold,
                 compared_on="model grid")


def vorticity_metrics(pred: xr.DataArray, ref: xr.DataArray, threshold: float,
                      horizon: float) -> xr.Dataset:
    """The metrics of :func:`~neuralpde.evaluation.metrics.compute_metrics` that need only the
    vorticity (sample, time, x, y): ``correlation``, ``correlation_mean``, ``enstrophy_pred``,
    ``enstrophy_ref`` (½⟨ω²⟩) and the durations; attrs ``skipped_metrics``."""
    corr = np.asarray(metric_fns.vorticity_correlation(pred.values, ref.values), np.float64)
    st = ("sample", "time")
    coords = {"sample": pred["sample"].values, "time": pred["time"].values}
    corr_da = xr.DataArray(corr, dims=st, coords=coords, name="correlation")
    out = xr.Dataset({
        "correlation": corr_da,
        "correlation_mean": corr_da.mean("sample", skipna=False),
        "enstrophy_pred": (st, 0.5 * np.mean(np.asarray(pred.values, np.float64) ** 2,
                                             axis=(2, 3))),
        "enstrophy_ref": (st, 0.5 * np.mean(np.asarray(ref.values, np.float64) ** 2, axis=(2, 3))),
    }, coords=coords)
    out = out.merge(metric_fns.duration_summary(corr_da, threshold, horizon))
    out.attrs = {"threshold": float(threshold), "horizon": float(horizon),
                 "skipped_metrics": list(VELOCITY_METRICS)}
    return out


__all__ = ["ExternalRollout", "ExternalRolloutError", "open_rollout",
           "rollout_dataset", "score_rollout", "vorticity_metrics"]
