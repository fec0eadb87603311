"""The run folder: the one owner of its file names.

A training run folder (``neuralpde train`` / ``stagger-train``) holds::

    run.json          the run record (:func:`neuralpde.training.runs.read_record`)
    metrics.jsonl     one JSON line per logged update and per validation
    checkpoints/last  the latest checkpoints (orbax; parameters, optimiser, extras)
    checkpoints/best  the best validation checkpoint
    tensorboard/      TensorBoard event files of the same metrics

Everything that reads or writes a run folder takes the paths from
:class:`RunFolder`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import ClassVar


@dataclasses.dataclass(frozen=True)
class RunFolder:
    """The paths of one run folder.

    Attributes:
        path: the folder (need not exist yet).
    """

    path: Path
    RECORD: ClassVar[str] = "run.json"
    METRICS: ClassVar[str] = "metrics.jsonl"
    CHECKPOINTS: ClassVar[str] = "checkpoints"
    TENSORBOARD: ClassVar[str] = "tensorboard"

    def __post_init__(self):
        object.__setattr__(self, "path", Path(self.path))

    @property
    def record(self) -> Path:
        """``run.json``."""
        return self.path / self.RECORD

    @property
    def metrics(self) -> Path:
        """``metrics.jsonl``."""
        return self.path / self.METRICS

    @property
    def checkpoints(self) -> Path:
        """``checkpoints/`` (``last/`` and ``best/`` inside)."""
        return self.path / self.CHECKPOINTS

    @property
    def last_checkpoints(self) -> Path:
        """``checkpoints/last``."""
        return self.checkpoints / "last"

    @property
    def best_checkpoints(self) -> Path:
        """``checkpoints/best``."""
        return self.checkpoints / "best"

    @property
    def tensorboard(self) -> Path:
        """``tensorboard/``."""
        return self.path / self.TENSORBOARD


__all__ = ["RunFolder"]
