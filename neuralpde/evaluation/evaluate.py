"""Evaluate a solver on a test store and write its results folder.

:func:`evaluate_solver` scores a solver with the one pipeline
(:func:`neuralpde.evaluation.scoring.score`) and writes ``<out>/<solver name>/``:

* ``trajectory.zarr`` — the predicted frames, in the trajectory-store schema
  (on the comparison grid: the model grid, or a lone sub-solver's own grid);
* ``metrics.nc`` — :func:`neuralpde.evaluation.metrics.compute_metrics`;
* ``summary.json`` — the summary row, a
  :class:`~neuralpde.evaluation.summary.ResultSummary` (durations, latency,
  device, divergence, where it was compared, what it was made from, and the
  package and machine that scored it: ``neuralpde_version``,
  ``neuralpde_git_commit`` and ``machine``, :func:`neuralpde.provenance`;
  summaries written before these keys existed lack them and still load).

Both functions return the summary as a dict (:meth:`ResultSummary.to_dict`,
the object ``summary.json`` holds).

:func:`evaluate_external` writes the same folder for a rollout produced
elsewhere (``file:PATH``, :mod:`neuralpde.evaluation.external`).  The folder's
format, its safe names and what may replace what are owned by
:mod:`neuralpde.evaluation.results`: it is written under a hidden temporary
name and renamed when complete, and a folder this package did not write for
the same solver is never replaced.  In a
multi-process job every process scores its block of the samples and process 0
alone locks and writes the folder.  Solvers are made from their names (``dns-64``, ``run:<folder>``)
by :mod:`neuralpde.registry`, which also evaluates several at once.
"""

from __future__ import annotations

from pathlib import Path

import xarray as xr

from neuralpde import provenance
from neuralpde.evaluation.external import ExternalRollout, score_rollout
from neuralpde.evaluation.results import (
    METRICS_FILE,
    TRAJECTORY_FILE,
    check_replaceable,
    check_results_name,
    summary_is_current,
    write_results,
)
from neuralpde.evaluation.scoring import score
from neuralpde.evaluation.summary import ResultSummary
from neuralpde.outputs import exclusive
from neuralpde.sharding import in_process_0, is_writer, together
from neuralpde.solvers.base import Solver
from neuralpde.solvers.names import EXTERNAL_PREFIX
from neuralpde.solvers.rollout import device_name

#: Summary fields copied from the metrics dataset.
DURATION_FIELDS = ("duration_of_mean", "duration_mean", "duration_std", "duration_min",
                   "duration_max")


def evaluate_solver(
    solver: Solver,
    test: xr.Dataset,
    out_dir,
    reference_path: str = "",
    horizon: float | None = None,
    threshold: float = 0.8,
    n_samples: int | None = None,
    latency_duration: float = 1.0,
    devices=None,
    source: str = "",
) -> dict:
    """Score ``solver`` on the test store, write its results folder; return the summary.

    ``source`` (e.g. ``run:/abs/path/to/run``) is recorded in the summary; a
    results folder of the same solver name made from another source is not
    overwritten (:class:`ConfigError`): two run folders called ``li``
    evaluated into one ``out_dir`` would otherwise replace each other's results.
    :class:`~neuralpde.outputs.OutputBusyError` when another process writes
    the same results folder (lock file ``out_dir/.<solver name>.lock``).
    Other errors: as :func:`neuralpde.evaluation.scoring.score`.
    """
    folder = Path(out_dir) / check_results_name(solver.name)
    what = f"the results folder {folder}"
    with in_process_0(lambda: exclusive(out_dir, f".{solver.name}.lock", what=what), what):
        return _evaluate_solver(solver, test, folder, reference_path, horizon, threshold,
                                n_samples, latency_duration, devices, source)


def _evaluate_solver(solver, test, folder, reference_path, horizon, threshold, n_samples,
                     latency_duration, devices, source) -> dict:
    """The body of :func:`evaluate_solver`, run while holding the results folder's lock."""
    together(lambda: check_same_source(folder, source), f"the results folder {folder}")
    scored = score(solver, test, horizon=horizon, n_samples=n_samples, threshold=threshold,
                   latency_duration=latency_duration, devices=devices)
    summary = _summary(solver.name, solver.kind, solver.size, test, scored, solver.dt,
                       device_name(), reference_path, source)
    return (_write_results(folder, scored, summary) if is_writer() else summary).to_dict()


def _summary(name, kind, size, test, scored, dt, device, reference_path, source,
             skipped_metrics=None) -> ResultSummary:
    """The ``summary.json`` row of a scored solver or rollout."""
    result = scored.rollout
    return ResultSummary(
        solver=name, kind=kind, size=size,
        model_size=int(test.attrs["model_size"]), preset=test.attrs["preset"],
        n_samples=scored.n_samples, threshold=scored.threshold, horizon=scored.horizon,
        dt=dt, steps_per_frame=result.steps_per_frame,
        **{field: float(scored.metrics[field]) for field in DURATION_FIELDS},
        latency_s_per_time_unit=scored.latency, device=device,
        diverged_samples=int((result.diverged_step >= 0).sum()),
        diverged_times=result.diverged_time,
        compared_on=scored.compared_on,
        reference=str(Path(reference_path).resolve()) if reference_path else "",
        source=source,
        **provenance(),
        skipped_metrics=skipped_metrics,
    )


def evaluate_external(rollout: ExternalRollout, test: xr.Dataset, out_dir, reference_path: str = "",
                      threshold: float = 0.8) -> dict:
    """Score a rollout made elsewhere (:mod:`neuralpde.evaluation.external`) into
    ``out_dir/<its name>/``, the folder :func:`evaluate_solver` writes for a solver.

    The summary's ``kind`` is ``'external'``, ``source`` is ``file:<absolute
    path>``, ``latency_s_per_time_unit``/``device`` are what the file states
    (None/``''`` if nothing), ``dt`` is the frame spacing and ``steps_per_frame``
    1; a vorticity-only rollout lists the metrics it could not have under
    ``skipped_metrics``.  Errors as :func:`evaluate_solver`.
    """
    folder = Path(out_dir) / check_results_name(rollout.name)
    source = f"{EXTERNAL_PREFIX}{rollout.path.resolve()}"
    what = f"the results folder {folder}"
    with in_process_0(lambda: exclusive(out_dir, f".{rollout.name}.lock", what=what), what):
        together(lambda: check_same_source(folder, source), f"the results folder {folder}")
        scored = score_rollout(rollout, test, threshold=threshold)
        summary = _summary(rollout.name, rollout.kind, int(test.attrs["model_size"]), test,
                           scored, scored.rollout.dt, rollout.device, reference_path, source,
                           skipped_metrics=rollout.skipped_metrics)
        return (_write_results(folder, scored, summary) if is_writer() else summary).to_dict()


def _write_results(folder: Path, scored, summary: ResultSummary) -> ResultSummary:
    """Write ``trajectory.zarr``, ``metrics.nc`` and ``summary.json`` atomically
    (:func:`neuralpde.evaluation.results.write_results`); returns ``summary``."""
    def write(tmp: Path) -> None:
        scored.predicted.to_zarr(tmp / TRAJECTORY_FILE, mode="w", consolidated=False)
        metrics = scored.metrics.copy()
        metrics.attrs = {k: (", ".join(v) if isinstance(v, list) else v)
                         for k, v in metrics.attrs.items()}
        metrics.to_netcdf(tmp / METRICS_FILE)

    return write_results(folder, summary, write)


def check_same_source(folder: Path, source: str) -> None:
    """Refuse (:class:`ConfigError`) to replace ``folder`` unless it holds results this package
    wrote for the same solver and source
    (:func:`neuralpde.evaluation.results.check_replaceable`)."""
    check_replaceable(folder, source)


__all__ = ["evaluate_solver", "evaluate_external", "check_same_source", "summary_is_current",
           "DURATION_FIELDS"]
