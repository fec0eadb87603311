"""Scoring solvers: metrics, the one scoring pipeline, results folders, comparison tables and
figures.

* :mod:`~neuralpde.evaluation.array_metrics` — metrics on arrays: vorticity
  correlation, relative L2 error, energy spectrum, high-correlation duration.
* :mod:`~neuralpde.evaluation.metrics` — the metrics of trajectory datasets
  (xarray), :func:`~neuralpde.evaluation.metrics.compute_metrics`; re-exports
  the array metrics.
* :mod:`~neuralpde.evaluation.scoring` — :func:`~neuralpde.evaluation.scoring.score`:
  roll a solver out on a store and score it (used by ``evaluate``, training
  validation and the studies).
* :mod:`~neuralpde.evaluation.external` — rollouts made elsewhere, scored alike.
* :mod:`~neuralpde.evaluation.evaluate` — a solver's results folder.
* :mod:`~neuralpde.evaluation.summary` — the ``summary.json`` format,
  :class:`~neuralpde.evaluation.summary.ResultSummary`.
* :mod:`~neuralpde.evaluation.results` — the results folder: file names, safe
  names, what may replace what, atomic writes.
* :mod:`~neuralpde.evaluation.compare` — ``neuralpde compare``: the table and the
  figures, built on :mod:`~neuralpde.evaluation.rows` (loading the summaries),
  :mod:`~neuralpde.evaluation.ladders` (equivalent DNS resolution, equal accuracy
  and equal cost), :mod:`~neuralpde.evaluation.tables` (the table),
  :mod:`~neuralpde.evaluation.protocol` (rows scored alike) and
  :mod:`~neuralpde.evaluation.figure_inputs` (what the figures show).
* :mod:`~neuralpde.evaluation.plots` — the figures (matplotlib), with
  :mod:`~neuralpde.evaluation.series_plots`, :mod:`~neuralpde.evaluation.animation`
  and :mod:`~neuralpde.evaluation.figure_style`.
"""
