"""Training learned solvers: one loop for every kind, its losses, configs, run folders.

* :mod:`~neuralpde.training.config` — :class:`LoopConfig` and the per-kind
  configs (:class:`TrainConfig`: LI/TSM; :class:`StaggerTrainConfig`), presets.
* :mod:`~neuralpde.training.kinds` — the table of learned kinds (config classes,
  solver builder, task, checkpoint extras of each), read by the loop, run
  folders, registry, CLI and quickstart.
* :mod:`~neuralpde.training.loop` — :func:`~neuralpde.training.loop.train` /
  :func:`~neuralpde.training.loop.fit`: the loop.
* :mod:`~neuralpde.training.task` — what a kind hands to the loop.
* :mod:`~neuralpde.training.windowed` — LI/TSM: store windows, unrolled loss.
* :mod:`~neuralpde.training.staggered` — staggered sub-solvers: state pool,
  physics-constrained loss.
* :mod:`~neuralpde.training.losses` — the window loss and the physics residuals.
* :mod:`~neuralpde.training.windows`, :mod:`~neuralpde.training.optim`,
  :mod:`~neuralpde.training.checkpoint` — data windows, optimiser, checkpoints.
* :mod:`~neuralpde.training.runs` — run folders: ``run.json``, metrics,
  loading any run's trained solver.
"""
