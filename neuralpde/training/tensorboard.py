"""TensorBoard event files of a run, beside ``metrics.jsonl``: ``RUN/tensorboard/``.

Every line the training loop logs to ``metrics.jsonl`` (``loss``,
``grad_norm``, ``learning_rate``, ``steps_per_s``, ``skipped``, a kind's own
loss terms, ``validation_duration``) is also written as TensorBoard scalars at
its ``step``, through ``tensorboardX`` (the event-file writer that needs
neither TensorFlow nor PyTorch).  ``metrics.jsonl`` stays the record scripts
and tests read; the event files are for looking at curves::

    tensorboard --logdir RUN/tensorboard        # or a folder of runs: one curve per run

A resumed run opens its writer with ``purge_step`` = the first step it will
log, so TensorBoard drops what the interrupted process logged after its last
checkpoint, exactly as ``metrics.jsonl`` is truncated there.  In a
multi-process run only process 0 writes.
"""

from __future__ import annotations

import os
import time

import jax

from neuralpde.training.run_folder import RunFolder

#: Keys of a metrics line that are not scalars to plot.
NOT_SCALARS = ("step",)


class TensorBoardLog:
    """A synchronous scalar writer for ``run_dir/tensorboard`` (nothing off process 0).

    Events go straight to the file and are flushed at every :meth:`write`
    (tensorboardX's ``SummaryWriter`` queues them in a background thread, and
    a killed process would lose what ``metrics.jsonl`` already holds).

    Args:
      run_dir: the run folder.
      first_step: the first step this process will log (events of earlier
        processes at this step or later are purged by TensorBoard).
    """

    def __init__(self, run_dir, first_step: int):
        self.events = None
        if jax.process_index() != 0:
            return
        from tensorboardX.event_file_writer import EventsWriter
        from tensorboardX.proto.event_pb2 import Event, SessionLog

        folder = RunFolder(run_dir).tensorboard
        folder.mkdir(parents=True, exist_ok=True)
        # the file name holds the time in whole seconds: pid and step keep a quick resume apart
        self.events = EventsWriter(str(folder / "events"),
                                   filename_suffix=f".{os.getpid()}.{int(first_step)}")
        # what SummaryWriter(purge_step=first_step) writes first
        self.events.write_event(Event(wall_time=time.time(), step=int(first_step),
                                      session_log=SessionLog(status=SessionLog.START)))
        self.events.flush()

    def write(self, line: dict) -> None:
        """Every number of a ``metrics.jsonl`` line, as scalar ``train/<key>`` (or
        ``validation/duration``) at ``line['step']``; on disk when it returns."""
        if self.events is None:
            return
        from tensorboardX.proto.event_pb2 import Event
        from tensorboardX.summary import scalar

        step = int(line["step"])
        for key, value in line.items():
            if key in NOT_SCALARS or isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            tag = "validation/duration" if key == "validation_duration" else f"train/{key}"
            self.events.write_event(Event(wall_time=time.time(), step=step,
                                          summary=scalar(tag, float(value))))
        self.events.flush()

    def close(self) -> None:
        if self.events is not None:
            self.events.close()
            self.events = None


__all__ = ["TensorBoardLog"]
