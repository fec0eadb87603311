"""The output paths of the ``neuralpde`` commands: checked before any work starts, and the
folders a failed command made removed again."""

from __future__ import annotations

import os
from pathlib import Path

from neuralpde.config import UserInputError


def check_output_folder(out, is_file: bool = False) -> None:
    """Refuse (:class:`UserInputError`) an output path that cannot be created.

    Every command's ``--out`` is a folder (``export``'s is a file): refused
    when it, or a folder above it, is an existing file (or, for a file
    output, when it is an existing folder), or when a name in it is longer
    than the file system allows (:func:`name_too_long`), or when it lies in
    a folder the package removes or rewrites as a whole (a zarr store, a
    generation's resume folder, a run's checkpoints:
    :func:`neuralpde.outputs.managed_folder`).  Checked before any work
    starts, so nothing is created.
    """
    from neuralpde.outputs import managed_folder

    if not str(out).strip():
        raise UserInputError(f"--out {out!r} is empty: pass a {'file' if is_file else 'folder'} "
                             "path")
    path = Path(out)
    too_long = name_too_long(path)
    if too_long:
        raise UserInputError(f"--out {abbreviated(out)}: {too_long}; pass a shorter path")
    if is_file and path.is_dir():
        raise UserInputError(f"{out} is an existing folder: pass the path of a file to write")
    inside = managed_folder(path)
    if inside:
        raise UserInputError(f"--out {out} lies inside {inside}: what is written there would be "
                             "lost with it: outputs go to a folder of their own")
    for candidate in ((path,) if not is_file else ()) + tuple(path.parents):
        if candidate.exists() and not candidate.is_dir():
            raise UserInputError(f"--out {out}: {candidate} is an existing file, not a folder; "
                                 "pass a folder path (it is created if missing)")


def _limit(path: Path, name: str, default: int) -> int:
    """``os.pathconf`` ``name`` of the nearest existing folder above ``path`` (else ``default``)."""
    for folder in (path, *path.parents):
        try:
            if folder.is_dir():
                return int(os.pathconf(folder, name))
        except (OSError, ValueError):
            continue
    return default


def name_too_long(path) -> str:
    """Why ``path`` cannot exist on its file system (a name longer than ``PC_NAME_MAX``
    bytes, or the whole path longer than ``PC_PATH_MAX``), or ``''``."""
    path = Path(os.path.abspath(path))
    name_max = _limit(path.parent, "PC_NAME_MAX", 255)
    for part in path.parts:
        size = len(os.fsencode(part))
        if size > name_max:
            return (f"the name {abbreviated(part)} is {size} bytes, longer than the {name_max} "
                    "the file system allows")
    path_max = _limit(path.parent, "PC_PATH_MAX", 4096)
    size = len(os.fsencode(str(path)))
    if size >= path_max:
        return f"the path is {size} bytes, longer than the {path_max - 1} the file system allows"
    return ""


def abbreviated(text, keep: int = 40) -> str:
    """``text`` (a path or name) with every name longer than ``keep`` characters shortened to
    its first and last characters and its length, to fit one line."""
    def short(part: str) -> str:
        if len(part) <= keep:
            return part
        return f"{part[:12]}...{part[-12:]} ({len(part)} characters)"
    return os.sep.join(short(part) for part in str(text).split(os.sep))


def new_folders(args) -> list:
    """The folders of ``args.out`` (and above it) that do not exist yet, deepest first: what a
    failed command may remove again if it left them empty (best effort; never an existing
    folder)."""
    out = getattr(args, "out", None)
    if out is None or not str(out).strip():
        return []
    path = Path(os.path.abspath(out))
    missing = []
    for folder in (path, *path.parents):
        try:
            if folder.exists():
                break
        except OSError:  # a name too long to look up cannot have been made either
            continue
        missing.append(folder)
    return missing


def remove_empty(folders) -> None:
    """Remove each of ``folders`` (deepest first) that exists and is empty now."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:  # missing, not empty, or not ours to remove
            pass

