"""Writing outputs safely: one writer per output folder, and files that are whole or absent.

**Locks.**  ``generate`` locks its data folder, ``train`` its run folder and
``evaluate`` each solver's results folder (``OUT/.<solver>.lock``), for as long
as they write there.  A second process that asks for a held lock gets
:class:`OutputBusyError` at once (a user error: the CLI prints it and exits
with 2) and writes nothing; the first one's output stays intact.

The lock is an operating-system file lock (``flock`` on POSIX, ``msvcrt`` on
Windows) through the ``filelock`` package, so a killed process releases it
with its file handles: a stale lock file never blocks the next command.  The
lock files (``.neuralpde.lock``) are left in place, empty; nothing reads them.
File locks are reliable on local disks; on some network file systems they are
not enforced (see the filelock documentation).

**Atomic files.**  :func:`write_text_atomic` writes a small file (``run.json``,
``comparison.md``, ...) under a temporary name and renames it, removing the
temporary when the write fails (a full disk), so a reader sees the old file
or the new one, never a part.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from neuralpde.config import UserInputError

#: The lock file's name inside a locked folder.
LOCK_NAME = ".neuralpde.lock"


class OutputBusyError(UserInputError):
    """Another process holds the lock of an output this command would write."""


@contextlib.contextmanager
def exclusive(folder, lock_name: str = LOCK_NAME, what: str = "") -> Iterator[Path]:
    """Hold the lock ``folder/lock_name`` (the folder is created) while the block runs.

    When the block fails, a lock file created here is removed, and so is the
    folder if it was created here and is left empty: a refused command leaves
    nothing behind.

    ``what`` names the output in the error (default: the folder).  Raises
    :class:`OutputBusyError` at once when another process holds it.
    """
    from filelock import FileLock, Timeout

    folder = Path(folder)
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    new_lock = not (folder / lock_name).exists()
    lock = FileLock(folder / lock_name, timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise OutputBusyError(
            f"{what or folder} is being written by another neuralpde process (it holds "
            f"{folder / lock_name}); wait for it to finish, or write to another --out") from None
    try:
        yield folder
    except BaseException:
        if new_lock:  # a failed command leaves no lock file it made ...
            (folder / lock_name).unlink(missing_ok=True)
        if created and not any(folder.iterdir()):  # ... nor an empty folder it made
            folder.rmdir()
        raise
    finally:
        lock.release()


def held_elsewhere(folder, lock_name: str = LOCK_NAME) -> bool:
    """Whether another process holds the lock ``folder/lock_name`` of :func:`exclusive` now.

    Checked without waiting and without keeping it: a free lock is taken and
    released at once (POSIX: ``flock`` on a read-only descriptor, the lock
    ``filelock`` takes, so no write permission is needed; elsewhere through
    ``filelock``).  A missing lock file (never written there) is free and is
    not created; a lock that cannot be checked counts as free.
    """
    path = Path(folder) / lock_name
    if not path.is_file():
        return False
    try:
        import fcntl
    except ImportError:  # Windows: filelock's own lock
        from filelock import FileLock, Timeout

        lock = FileLock(path, timeout=0)
        try:
            lock.acquire()
        except Timeout:
            return True
        except OSError:
            return False
        lock.release()
        return False
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


@contextlib.contextmanager
def replaced_atomically(path) -> Iterator[Path]:
    """Yield ``<path>.tmp`` to write; on success it is renamed to ``path``.

    On any failure the temporary is removed and the previous ``path`` (if
    any) is left as it was; the error propagates.
    """
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text_atomic(path, text: str) -> Path:
    """Write ``text`` to ``path`` through :func:`replaced_atomically`; returns ``path``."""
    with replaced_atomically(path) as tmp:
        tmp.write_text(text)
    return Path(path)


#: Files that make a folder a zarr store (v3, v2 group, v2 array).
ZARR_MARKERS = ("zarr.json", ".zgroup", ".zarray")


def managed_folder(path) -> str:
    """What ``path`` lies in (or is) that this package removes or rewrites as a whole, or ``''``.

    Such folders are a zarr store (replaced or rewritten by ``generate``,
    ``import``, ``evaluate``), a generation's resume folder ``<store>.resume``
    (removed when the store is complete) and a run's ``checkpoints`` folder
    (orbax removes old checkpoint folders): an output written into one of
    them would be lost with it, so every command refuses such an ``--out``
    (symbolic links are followed).
    """
    resolved = Path(os.path.abspath(path))
    try:
        resolved = resolved.resolve()
    except (OSError, RuntimeError):  # a loop of links: left to the command to report
        pass
    for folder in (resolved, *resolved.parents):
        try:
            name = folder.name
            if name.endswith(".resume") and name[:-len(".resume")].endswith(".zarr"):
                return (f"the resume folder {folder} of a generation (removed when its store "
                        "is complete)")
            if not folder.is_dir():
                continue
            if any((folder / marker).exists() for marker in ZARR_MARKERS):
                return f"the zarr store {folder}"
            # the run-folder names of training.run_folder.RunFolder (a layer above this one)
            if name == "checkpoints" and (folder.parent / "run.json").is_file():
                return (f"the checkpoints folder {folder} of a training run (old checkpoints "
                        "are removed as the run goes on)")
        except OSError:  # unreadable, or a name too long: not one of ours
            continue
    return ""


__all__ = ["LOCK_NAME", "OutputBusyError", "exclusive", "held_elsewhere", "replaced_atomically",
           "write_text_atomic", "ZARR_MARKERS", "managed_folder"]
