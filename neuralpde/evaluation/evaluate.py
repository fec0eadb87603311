"""Evaluate a solver on a test store and write its results folder.

:func:`evaluate_solver` scores a solver with the one pipeline
(:func:`neuralpde.evaluation.scoring.score`) and writes ``<out>/<solver name>/``:

* ``trajectory.zarr`` — the predicted frames, in the trajectory-store schema
  (on the comparison grid: the model grid, or a lone sub-solver's own grid);
* ``metrics.nc`` — :func:`neuralpde.evaluation.metrics.compute_metrics`;
* ``summary.json`` — the summary row (durations, latency, device, divergence,
  where it was compared, what it was made from).

The folder is written under ``<solver name>.writing`` and renamed when
complete.  Solvers are made from their names (``dns-64``, ``run:<folder>``)
by :mod:`neuralpde.registry`, which also evaluates several at once.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Optional

import xarray as xr

from neuralpde.config import ConfigError
from neuralpde.evaluation.scoring import score
from neuralpde.solvers.base import Solver
from neuralpde.solvers.rollout import device_name

#: Summary fields copied from the metrics dataset.
DURATION_FIELDS = ("duration_of_mean", "duration_mean", "duration_std", "duration_min",
                   "duration_max")


def evaluate_solver(
    solver: Solver,
    test: xr.Dataset,
    out_dir,
    reference_path: str = "",
    horizon: Optional[float] = None,
    threshold: float = 0.8,
    n_samples: Optional[int] = None,
    latency_duration: float = 1.0,
    devices=None,
    source: str = "",
) -> dict:
    """Score ``solver`` on the test store, write its results folder; return the summary.

    ``source`` (e.g. ``run:/abs/path/to/run``) is recorded in the summary; a
    results folder of the same solver name made from another source is not
    overwritten (:class:`ConfigError`): two run folders called ``li``
    evaluated into one ``out_dir`` would otherwise replace each other's results.
    Other errors: as :func:`neuralpde.evaluation.scoring.score`.
    """
    folder = Path(out_dir) / solver.name
    check_same_source(folder, source)
    scored = score(solver, test, horizon=horizon, n_samples=n_samples, threshold=threshold,
                   latency_duration=latency_duration, devices=devices)
    result = scored.rollout
    summary = {
        "solver": solver.name, "kind": solver.kind, "size": solver.size,
        "model_size": int(test.attrs["model_size"]), "preset": test.attrs["preset"],
        "n_samples": scored.n_samples, "threshold": scored.threshold, "horizon": scored.horizon,
        "dt": solver.dt, "steps_per_frame": result.steps_per_frame,
        **{name: float(scored.metrics[name]) for name in DURATION_FIELDS},
        "latency_s_per_time_unit": scored.latency, "device": device_name(),
        "diverged_samples": int((result.diverged_step >= 0).sum()),
        "diverged_times": result.diverged_time,
        "compared_on": scored.compared_on,
        "reference": str(Path(reference_path).resolve()) if reference_path else "",
        "source": source,
    }
    tmp = folder.with_name(folder.name + ".writing")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    scored.predicted.to_zarr(tmp / "trajectory.zarr", mode="w", consolidated=False)
    scored.metrics.to_netcdf(tmp / "metrics.nc")
    (tmp / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(tmp, folder)
    return summary


def check_same_source(folder: Path, source: str) -> None:
    """Refuse (:class:`ConfigError`) to replace results that ``folder`` holds of another source."""
    summary = Path(folder) / "summary.json"
    if not (source and summary.exists()):
        return
    previous = json.loads(summary.read_text()).get("source", "")
    if previous and previous != source:
        raise ConfigError(f"{folder} holds the results of {previous!r}, not of {source!r} (same "
                          "solver name): evaluate into another --out folder or rename the run folder")


def summary_is_current(folder, newer_than=None) -> bool:
    """Whether ``folder/summary.json`` exists (and is newer than the file ``newer_than``).

    Lets drivers (quickstart, experiments) skip evaluations that are already
    done, e.g. ``newer_than = <run>/metrics.jsonl`` for a trained model.
    """
    summary = Path(folder) / "summary.json"
    if not summary.exists():
        return False
    if newer_than is None or not Path(newer_than).exists():
        return True
    return summary.stat().st_mtime > Path(newer_than).stat().st_mtime


__all__ = ["evaluate_solver", "check_same_source", "summary_is_current", "DURATION_FIELDS"]
