"""Clean stops on SIGINT (Ctrl-C) and SIGTERM (a scheduler's pre-emption) for the CLI.

The command line installs :func:`handling_interrupts` around every command.
The rule:

* While a loop that can stop at a safe point is running (the training loop
  after each update, generation after each written block: they poll
  :func:`stop_requested` inside :func:`safe_points`), the first signal only
  asks it to stop; the loop saves what it has (a checkpoint at the current
  step; the resume record of the block) and raises :class:`Interrupted`,
  whose one-line message says what was saved and how to resume.
* Anywhere else, and at a second signal, the process stops at once
  (``os._exit``) after one line saying what is kept.  Everything the package
  writes is already safe against a hard kill (atomic renames, resumable
  stores, orbax's temporary checkpoint folders), so an immediate stop loses
  only the work in progress.  Unwinding Python through JAX's compiled code
  instead (a ``KeyboardInterrupt``) can crash the interpreter at shutdown.

Exit status ``128 + signal number`` (130 for SIGINT, 143 for SIGTERM), the
shell convention.  A SIGINT ignored when the command starts (a shell's
background job, ``nohup``) is left ignored, as Python leaves it; SIGTERM
still stops such a process cleanly.  Without :func:`handling_interrupts` (the Python API,
notebooks) nothing changes: ``stop_requested()`` is always False and Ctrl-C
raises ``KeyboardInterrupt`` as usual.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator


class Interrupted(Exception):
    """A loop stopped at a safe point after SIGINT/SIGTERM; the message says what was saved."""

    def __init__(self, message: str, signum: int = signal.SIGINT):
        super().__init__(message)
        self.signum = signum


_state = {"installed": False, "signum": None, "polling": 0, "prefix": "neuralpde",
          "describe": None}


def stop_requested() -> bool:
    """Whether a signal asked the running command to stop at its next safe point."""
    return _state["signum"] is not None


def requested_signal() -> int:
    """The signal that asked to stop (SIGINT when none did)."""
    return _state["signum"] or signal.SIGINT


@contextlib.contextmanager
def safe_points() -> Iterator[None]:
    """Mark a loop that polls :func:`stop_requested` (the first signal then waits for it)."""
    _state["polling"] += 1
    try:
        yield
    finally:
        _state["polling"] -= 1


def _hard_stop(signum: int) -> None:
    describe = _state["describe"]
    try:
        kept = describe() if describe is not None else ""
    except Exception:  # the description is best effort: never block the stop
        kept = ""
    name = signal.Signals(signum).name
    message = f"{_state['prefix']}: stopped at once by {name}"
    message += f"; {kept}" if kept else ""
    sys.stderr.write("\n" + message + "\n")
    sys.stderr.flush()
    sys.stdout.flush()
    os._exit(128 + signum)


def _handler(signum, frame) -> None:
    if _state["signum"] is not None or not _state["polling"]:
        _hard_stop(signum)
    _state["signum"] = signum
    key = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
    sys.stderr.write(f"\n{_state['prefix']}: {signal.Signals(signum).name} received: stopping at "
                     f"the next safe point ({key} again stops at once)\n")
    sys.stderr.flush()


def handled_signals() -> tuple:
    """The signals :func:`handling_interrupts` handles: SIGTERM, and SIGINT unless it is ignored.

    A process started with SIGINT ignored (a shell's background job ``cmd &``,
    ``nohup``) keeps it ignored, Python's own convention: Ctrl-C in the
    terminal is not meant for it.  SIGTERM still stops it cleanly.
    """
    ignored = signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    return (signal.SIGTERM,) if ignored else (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def handling_interrupts(prefix: str = "neuralpde",
                        describe: Callable[[], str] | None = None) -> Iterator[None]:
    """Install the SIGINT/SIGTERM rule of the module docstring for the duration of a command.

    ``prefix`` starts every message (``'neuralpde train'``); ``describe()``
    returns what a hard stop keeps (e.g. ``'the checkpoint of step 40 in
    runs/li is kept; re-run the same command to resume'``).  Outside the main
    thread (where signals cannot be handled) it does nothing; an ignored SIGINT
    stays ignored (:func:`handled_signals`).
    """
    if threading.current_thread() is not threading.main_thread() or _state["installed"]:
        yield
        return
    previous = {s: signal.getsignal(s) for s in handled_signals()}
    _state.update(installed=True, signum=None, polling=0, prefix=prefix, describe=describe)
    for s in previous:
        signal.signal(s, _handler)
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        _state.update(installed=False, signum=None, polling=0, prefix="neuralpde",
                      describe=None)


__all__ = ["Interrupted", "handled_signals", "handling_interrupts", "requested_signal",
           "safe_points", "stop_requested"]
