r"""Scoring staggered sub-solvers against a test store: fine and one-sub-solver coarse simulations.

Errors at every stored frame, averaged over samples:

* relative L2 error of the velocity,
  :math:`\|\mathbf u_\text{pred} - \mathbf u_\text{ref}\|_2 / \|\mathbf u_\text{ref}\|_2`;
* vorticity correlation (protocol §2, forward-difference vorticity,
  :func:`neuralpde.evaluation.metrics.vorticity_correlation`).

The fine simulation is compared on the model grid (the store's grid, where
the reference was face-averaged from the 256² DNS).  The coarse simulation of
sub-field (a, b) is compared with the **same sub-field of the reference**
(point subsampling of the model-grid reference frames, at exactly the points
the sub-solver predicts; :func:`neuralpde.stagger.decompose.subfield`); its
vorticity uses the same forward differences on the coarse grid, which for
s > 1 are not co-located (the sub-field is not a MAC pair) but are the same
operator for prediction and reference.
"""

from __future__ import annotations

import math
from typing import Optional

import numpy as np
import xarray as xr

from neuralpde.config import ConfigError
from neuralpde.evaluation import metrics
from neuralpde.evaluation.rollout import measure_latency, rollout
from neuralpde.stagger import decompose


def reference_frames(test: xr.Dataset, n_samples: int, n_frames: int) -> np.ndarray:
    """Reference frames ``(samples, frames, 2, N, N)`` of a test store (model grid)."""
    u = test.u.isel(sample=slice(0, n_samples), time=slice(0, n_frames)).values
    v = test.v.isel(sample=slice(0, n_samples), time=slice(0, n_frames)).values
    return np.stack([u, v], axis=2).astype(np.float32)


def trajectory_errors(pred: np.ndarray, ref: np.ndarray, domain_size: float) -> dict:
    """Sample-mean relative L2 velocity error and vorticity correlation per frame.

    ``pred``, ``ref``: ``(samples, frames, 2, n, n)``.  Non-finite (diverged)
    frames give NaN.
    """
    axes = (2, 3, 4)
    rel = np.sqrt(np.sum((pred - ref) ** 2, axis=axes) / np.sum(ref ** 2, axis=axes))
    dx = domain_size / ref.shape[-1]
    wp = metrics.vorticity(pred[:, :, 0], pred[:, :, 1], dx)
    wr = metrics.vorticity(ref[:, :, 0], ref[:, :, 1], dx)
    corr = np.asarray(metrics.vorticity_correlation(wp, wr), np.float64)
    return {"relative_l2": rel.mean(axis=0), "correlation": corr.mean(axis=0)}


def _frames(test: xr.Dataset, horizon: Optional[float], n_samples: Optional[int]):
    frame_dt = float(test.attrs["frame_dt"])
    span = float(test.time.values[-1] - test.time.values[0])
    horizon = span if horizon is None else float(horizon)
    if not 0 < horizon <= span + 1e-9:
        raise ConfigError(f"invalid horizon={horizon}: accepted (0, {span:g}] (the test store's span)")
    available = test.sizes["sample"]
    n_samples = available if n_samples is None else n_samples
    if not 1 <= n_samples <= available:
        raise ConfigError(f"invalid samples={n_samples}: accepted 1..{available}")
    n_frames = int(math.floor(horizon / frame_dt + 1e-6)) + 1
    return frame_dt, n_frames, n_samples


def _steps_per_frame(solver, frame_dt: float) -> int:
    steps = frame_dt / solver.dt
    if abs(steps - round(steps)) > 1e-6 * steps or round(steps) < 1:
        raise ConfigError(f"solver {solver.name!r} has dt={solver.dt:g}, which does not divide the "
                          f"store's frame spacing {frame_dt:g}: accepted s_time with "
                          "frame_dt/(s_time*dt) an integer")
    return round(steps)


def evaluate_fine(solver, test: xr.Dataset, horizon: Optional[float] = None,
                  n_samples: Optional[int] = None, latency: bool = True) -> dict:
    """Roll a fine-grid solver out from the test store's first frames and score it on the model grid."""
    frame_dt, n_frames, n_samples = _frames(test, horizon, n_samples)
    model_size = int(test.attrs["model_size"])
    if solver.size != model_size:
        raise ConfigError(f"solver {solver.name!r} runs on {solver.size}²: accepted the store's "
                          f"model grid {model_size}²")
    domain = float(test.attrs["domain_size"])
    ref = reference_frames(test, n_samples, n_frames)
    result = rollout(solver, ref[:, 0], n_frames, _steps_per_frame(solver, frame_dt), model_size,
                     domain)
    out = trajectory_errors(result.frames, ref, domain)
    out["time"] = test.time.values[:n_frames]
    out["latency"] = measure_latency(solver, ref[0, 0]) if latency else float("nan")
    out["diverged"] = int(np.sum(result.diverged_step >= 0))
    return out


def evaluate_coarse(coarse, test: xr.Dataset, horizon: Optional[float] = None,
                    n_samples: Optional[int] = None, latency: bool = True) -> dict:
    """Roll a :class:`~neuralpde.stagger.solver.CoarseSubSolver` out from sub-field (a, b) of the
    test store's first frames and score it against the same sub-field of the reference."""
    frame_dt, n_frames, n_samples = _frames(test, horizon, n_samples)
    if coarse.fine_size != int(test.attrs["model_size"]):
        raise ConfigError(f"coarse solver {coarse.name!r} splits a {coarse.fine_size}² grid: "
                          f"accepted the store's model grid {test.attrs['model_size']}²")
    s = coarse.config.s
    domain = float(test.attrs["domain_size"])
    ref = decompose.subfield(reference_frames(test, n_samples, n_frames), s, coarse.a, coarse.b)
    ref = np.asarray(ref)
    result = rollout(coarse, ref[:, 0], n_frames, _steps_per_frame(coarse, frame_dt), coarse.size,
                     domain)
    out = trajectory_errors(result.frames, ref, domain)
    out["time"] = test.time.values[:n_frames]
    out["latency"] = measure_latency(coarse, ref[0, 0]) if latency else float("nan")
    out["diverged"] = int(np.sum(result.diverged_step >= 0))
    return out


def duration(curve: np.ndarray, times: np.ndarray, threshold: float = 0.8) -> float:
    """High-correlation duration of a sample-mean correlation curve (protocol §2)."""
    return float(metrics.high_correlation_duration(np.asarray(curve), np.asarray(times),
                                                   threshold=threshold,
                                                   horizon=float(times[-1])))


__all__ = ["reference_frames", "trajectory_errors", "evaluate_fine", "evaluate_coarse", "duration"]
