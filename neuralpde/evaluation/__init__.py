"""Scoring solvers: metrics, the one scoring pipeline, results folders, comparison tables and
figures.

* :mod:`~neuralpde.evaluation.metrics` — vorticity correlation, high-correlation
  duration, energy, enstrophy, spectra, relative L2 error.
* :mod:`~neuralpde.evaluation.scoring` — :func:`score`: roll a solver out on a
  store and score it (used by ``evaluate``, training validation and the studies).
* :mod:`~neuralpde.evaluation.evaluate` — a solver's results folder.
* :mod:`~neuralpde.evaluation.compare` — tables, equivalent DNS resolution, figures.
* :mod:`~neuralpde.evaluation.plots` — the figures (matplotlib).
"""
