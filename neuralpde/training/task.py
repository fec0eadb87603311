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
from collections.abc import Callable
from pathlib import Path
from typing import Any

import xarray as xr

from neuralpde.store.reading import open_store
from neuralpde.store.schema import StoreError


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
      validation: the store validation rolls out on (the data folder's
        validation split, :func:`validation_store`), or None (no validation,
        no best checkpoint: loaders use the last one).
      batch_axis_sharded: whether ``batch`` splits its leading axis over the
        devices (data parallel); the global batch must then divide evenly.
    """

    solver: Any
    record: dict
    step_fn: Callable
    extras: dict
    batch: Callable[[int], Any]
    validation: xr.Dataset | None = None
    batch_axis_sharded: bool = False


def validation_store(data_dir, model_size: int) -> xr.Dataset:
    """``data_dir/validation.zarr``, the split every learned kind validates on.

    Training never reads the test split: checkpoints are selected on the
    validation split, whose initial conditions come from their own seed
    stream.  Raises :class:`StoreError` (saying how to generate it) when the
    data folder has none, as folders written before the split existed.
    """
    path = Path(data_dir) / "validation.zarr"
    if not path.exists():
        raise StoreError(f"{path} does not exist: training selects its checkpoints on the "
                         "validation split, never on the test split; generate it with `neuralpde "
                         "generate --split validation` (the same preset and options as the train "
                         "split)")
    return open_store(path, split="validation", model_size=model_size)


__all__ = ["Task", "validation_store"]
