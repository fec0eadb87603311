"""Orbax checkpoints of a run: the last ``keep_last`` and the best by validation.

``<run>/checkpoints/last/<step>/`` and ``<run>/checkpoints/best/<step>/``.
Orbax writes every checkpoint into a temporary folder and renames it when
complete, so an interrupted save leaves the previous checkpoints untouched and
is ignored on restore.  A checkpoint that cannot be read raises
:class:`CheckpointError` naming its path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import jax
import orbax.checkpoint as ocp

from neuralpde.config import UserInputError


class CheckpointError(UserInputError, RuntimeError):
    """A checkpoint is missing, corrupted or does not match the run's model."""


def _manager(folder: Path, options) -> ocp.CheckpointManager:
    try:
        return ocp.CheckpointManager(folder, options=options)
    except Exception as error:  # unreadable metadata of an existing checkpoint
        raise CheckpointError(f"checkpoints in {folder} are corrupted: "
                              f"{type(error).__name__}: {error}") from error


class Checkpoints:
    """The two checkpoint managers of a run folder."""

    def __init__(self, run_dir, keep_last: int):
        root = Path(run_dir).resolve() / "checkpoints"
        self.last_dir, self.best_dir = root / "last", root / "best"
        self.last = _manager(self.last_dir, ocp.CheckpointManagerOptions(
            max_to_keep=keep_last, create=True))
        self.best = _manager(self.best_dir, ocp.CheckpointManagerOptions(
            max_to_keep=1, create=True, best_fn=lambda m: m["validation_duration"],
            best_mode="max"))

    def save_last(self, step: int, tree: Any) -> None:
        self.last.save(step, args=ocp.args.StandardSave(tree))
        self.last.wait_until_finished()

    def save_best(self, step: int, tree: Any, validation_duration: float) -> None:
        self.best.save(step, args=ocp.args.StandardSave(tree),
                       metrics={"validation_duration": float(validation_duration)})
        self.best.wait_until_finished()

    def latest_step(self) -> Optional[int]:
        return self.last.latest_step()

    def best_step(self) -> Optional[int]:
        return self.best.best_step()

    def restore(self, which: str, target: Any, step: Optional[int] = None) -> Any:
        """Restore ``which`` (``'last'``/``'best'``) into the structure of ``target``."""
        manager = self.last if which == "last" else self.best
        step = step if step is not None else (
            manager.latest_step() if which == "last" else manager.best_step())
        folder = (self.last_dir if which == "last" else self.best_dir) / str(step)
        if step is None:
            raise CheckpointError(f"no {which} checkpoint in {folder.parent}")
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, target)
        try:
            return manager.restore(step, args=ocp.args.StandardRestore(abstract))
        except Exception as error:  # orbax/tensorstore raise many types for bad files
            raise CheckpointError(f"checkpoint {folder} is corrupted or does not match this "
                                  f"model: {type(error).__name__}: {error}") from error

    def close(self) -> None:
        self.last.close()
        self.best.close()
