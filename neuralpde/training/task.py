"""What one learned kind hands to the training loop: a :class:`Task`.

The loop (:mod:`neuralpde.training.loop`) knows nothing about windows, pools,
stencils or sub-solvers; each kind builds a task
(:func:`neuralpde.training.windowed.windowed_task` for LI and TSM,
:func:`neuralpde.training.staggered.stagger_task` for the staggered
sub-solvers) and the loop does the rest: run folder, resume, logging, skipped
non-finite updates, checkpoints, validation and the best checkpoint.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Optional

import xarray as xr


@dataclasses.dataclass(frozen=True)
class Task:
    """One learned kind's part of a training run.

    Attributes:
      solver: the solver with its initial parameters (``.params``,
        ``.with_params(params)``); validation rolls ``solver.with_params(p)`` out.
      record: the kind's fields of ``run.json`` besides the config (``flow``,
        ``model_size``, ``preset``, ``data``, ``generation_key``, and e.g.
        ``fine_dt`` or ``feature_scale``; :mod:`neuralpde.training.runs`).
      step_fn: the jitted update ``(params, opt_state, extras, skipped, batch,
        step) -> (params, opt_state, extras, skipped, stats)``; ``stats`` is a
        dict of scalars with at least ``loss`` and ``grad_norm``.  An update
        whose loss or gradient norm is not finite must keep the old
        parameters and optimiser state and add one to ``skipped``.
      extras: state besides parameters and optimiser state that is saved in
        every checkpoint and restored on resume (``{}``; the staggered
        sub-solvers' state pool ``{'pool': ...}``).
      batch: ``step -> batch`` (the update's data, already on the devices); it
        must depend on the step number only, so a resumed run sees what an
        uninterrupted one would.
      validation: the store validation rolls out on, or None (no validation,
        no best checkpoint: loaders use the last one).
      batch_axis_sharded: whether ``batch`` splits its leading axis over the
        devices (data parallel); the global batch must then divide evenly.
    """

    solver: Any
    record: dict
    step_fn: Callable
    extras: dict
    batch: Callable[[int], Any]
    validation: Optional[xr.Dataset] = None
    batch_axis_sharded: bool = False


__all__ = ["Task"]
