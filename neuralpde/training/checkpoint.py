"""Orbax checkpoints of a run: the last ``keep_last`` and the best by validation.

``<run>/checkpoints/last/<step>/`` and ``<run>/checkpoints/best/<step>/``.
Orbax writes every checkpoint into a temporary folder and renames it when
complete, so an interrupted save leaves the previous checkpoints untouched and
is ignored on restore.  A checkpoint that cannot be read raises
:class:`CheckpointError` naming its path.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

import jax
import orbax.checkpoint as ocp

from neuralpde.config import UserInputError
from neuralpde.training.run_folder import RunFolder


class CheckpointError(UserInputError, RuntimeError):
    """A checkpoint is missing, corrupted or does not match the run's model."""


def _short(error: BaseException, limit: int = 160) -> str:
    """``Type: first sentence of the message``, at most ``limit`` characters (orbax and
    TensorStore messages carry kilobytes of spec)."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    text = text.split(" See full TensorStore details")[0].split(". ")[0]
    text = text if len(text) <= limit else text[:limit] + " ..."
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


#: TensorStore/orbax report file-system errors in messages, not as OSError.
_DISK_MESSAGES = ((errno.ENOSPC, ("No space left on device", "os_error_code='28'")),
                  (errno.EDQUOT, ("Disk quota exceeded", "os_error_code='122'")),
                  (errno.EROFS, ("Read-only file system", "os_error_code='30'")),
                  (errno.EACCES, ("Permission denied", "os_error_code='13'")))


def _as_os_error(error: BaseException, folder: Path) -> OSError | None:
    """The :class:`OSError` a save failed with, recovered from orbax's wrapping (or None)."""
    if isinstance(error, OSError) and error.errno is not None:
        return error
    text = str(error)
    for code, markers in _DISK_MESSAGES:
        if any(marker in text for marker in markers):
            return OSError(code, os.strerror(code), str(folder))
    return None


def _manager(folder: Path, options) -> ocp.CheckpointManager:
    try:
        return ocp.CheckpointManager(folder, options=options)
    except Exception as error:  # unreadable metadata of an existing checkpoint
        disk = _as_os_error(error, folder)
        if disk is not None:
            raise disk from None
        raise CheckpointError(f"checkpoints in {folder} are corrupted ({_short(error)}): move the "
                              "folder away to start the run again") from error


class Checkpoints:
    """The two checkpoint managers of a run folder."""

    def __init__(self, run_dir, keep_last: int):
        folder = RunFolder(Path(run_dir).resolve())
        self.last_dir, self.best_dir = folder.last_checkpoints, folder.best_checkpoints
        self.last = _manager(self.last_dir, ocp.CheckpointManagerOptions(
            max_to_keep=keep_last, create=True, enable_async_checkpointing=False))
        self.best = _manager(self.best_dir, ocp.CheckpointManagerOptions(
            max_to_keep=1, create=True, best_fn=lambda m: m["validation_duration"],
            best_mode="max", enable_async_checkpointing=False))

    def save_last(self, step: int, tree: Any) -> None:
        self._save(self.last, self.last_dir, step, tree)

    def save_best(self, step: int, tree: Any, validation_duration: float) -> None:
        self._save(self.best, self.best_dir, step, tree,
                   metrics={"validation_duration": float(validation_duration)})

    @staticmethod
    def _save(manager, folder: Path, step: int, tree: Any, **kwargs) -> None:
        """Save and wait; a full or read-only disk is raised as the :class:`OSError` it is
        (orbax leaves the partial save in a temporary folder that no restore reads)."""
        try:
            manager.save(step, args=ocp.args.StandardSave(tree), **kwargs)
            manager.wait_until_finished()
        except Exception as error:
            disk = _as_os_error(error, folder)
            if disk is None:
                raise
            raise disk from None

    def latest_step(self) -> int | None:
        return self.last.latest_step()

    def best_step(self) -> int | None:
        return self.best.best_step()

    def restore(self, which: str, target: Any, step: int | None = None) -> Any:
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
            raise CheckpointError(f"checkpoint {folder} cannot be restored: its files are "
                                  "damaged or were written for another model (orbax: "
                                  f"{_short(error)})") from error

    def close(self) -> None:
        self.last.close()
        self.best.close()
