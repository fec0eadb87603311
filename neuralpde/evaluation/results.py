"""The results folder: its one owner (names, files, what may be replaced, atomic writes).

``neuralpde evaluate`` writes one folder per solver, ``<out>/<results name>/``,
holding exactly :data:`RESULT_FILES`:

* ``trajectory.zarr`` — the predicted frames (trajectory-store schema);
* ``metrics.nc`` — the metrics dataset;
* ``summary.json`` — the summary row (its ``solver`` field is the folder's name;
  the format is :mod:`neuralpde.evaluation.summary`'s).

``neuralpde compare`` writes :data:`COMPARISON_MARKDOWN`, :data:`COMPARISON_CSV`
and :data:`FIGURES_FOLDER` beside the solvers' folders.  Every file name of a
results folder is defined here (``summary.json`` in
:mod:`~neuralpde.evaluation.summary`, re-exported) and imported by the modules
that read or write it.

Safety rules (nothing the package did not write is ever removed or replaced):

* A results name is one safe path component (:func:`check_results_name`):
  letters, digits and ``_ + - .``, at most 100 characters, not starting
  with a dot (so never ``.``/``..`` nor a hidden lock/temporary name).
  Names from outside (run folders, rollout files, weights files) are reduced
  to such a component by :func:`results_name`.
* An existing folder of that name is replaced only when it is a results
  folder this package wrote for the same solver (:func:`check_replaceable`):
  it holds nothing but :data:`RESULT_FILES`, its ``summary.json`` names the
  same solver and the same source.  Anything else is refused with
  :class:`~neuralpde.config.ConfigError`, and the folder is left untouched.
* ``--out`` may not be, or contain, the data folder, nor lie inside a store
  (:func:`check_out_dir`).
* A folder is written under a fresh hidden temporary name in ``<out>`` and
  renamed into place when complete; the folder it replaces is moved aside
  first and removed only after the new one is in place (:func:`write_results`).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from neuralpde.config import ConfigError
from neuralpde.evaluation.summary import SUMMARY_FILE, ResultSummary, read_summary
from neuralpde.solvers.names import CLASSICAL, source_scheme

#: The metrics dataset of a solver's results folder (netCDF).
METRICS_FILE = "metrics.nc"
#: The predicted frames of a solver's results folder (a zarr store).
TRAJECTORY_FILE = "trajectory.zarr"
#: Everything a results folder holds.
RESULT_FILES = frozenset({SUMMARY_FILE, METRICS_FILE, TRAJECTORY_FILE})
#: The comparison table ``neuralpde compare`` writes beside the solvers' folders (Markdown).
COMPARISON_MARKDOWN = "comparison.md"
#: The same table as CSV.
COMPARISON_CSV = "comparison.csv"
#: The folder of the comparison's figures.
FIGURES_FOLDER = "figures"
#: Most characters in a results name.
MAX_NAME = 100
_SAFE = re.compile(rf"[A-Za-z0-9_+-][A-Za-z0-9._+-]{{0,{MAX_NAME - 1}}}")
#: Source prefixes: a source without one of these is a classical solver's canonical name.


def check_results_name(name) -> str:
    """``name`` if it is a safe results-folder name, else :class:`ConfigError`.

    Accepted: 1–100 characters from ``A-Z a-z 0-9 _ + - .``, the first not a
    dot (``.``, ``..``, ``.hidden`` and path separators are refused).
    """
    if not isinstance(name, str) or not _SAFE.fullmatch(name):
        raise ConfigError(f"invalid solver name {name!r} for a results folder: accepted "
                          f"1-{MAX_NAME} characters from letters, digits and _ + - . , not "
                          "starting with a dot (rename the run folder, weights file or the "
                          "rollout's `solver` attribute)")
    return name


def results_name(text: str) -> str:
    """``text`` reduced to a safe results name (:func:`check_results_name`).

    Characters outside ``A-Z a-z 0-9 _ + - .`` become ``_``, leading dots are
    dropped and the result is cut to 100 characters; :class:`ConfigError`
    when nothing is left (e.g. ``'..'``).
    """
    reduced = re.sub(r"[^A-Za-z0-9._+-]", "_", str(text)).lstrip(".")[:MAX_NAME]
    if not reduced:
        raise ConfigError(f"cannot make a results-folder name from {text!r}: give the run folder, "
                          "weights file or rollout a name with letters or digits")
    return check_results_name(reduced)


def same_source(previous: str, source: str) -> bool:
    """Whether two recorded sources name the same solver.

    Two classical names (no ``run:``/``file:``/``pretrained:`` prefix) in the
    same folder are the same solver (``dns`` and ``dns-32`` on a 32² model
    grid share the folder ``dns-32``); anything else must match exactly.
    """
    if source_scheme(previous or "") == source_scheme(source or "") == CLASSICAL:
        return True
    return previous == source


def check_out_dir(out_dir, data_dir, advice: str = "results go to a folder of their own "
                  "(e.g. --out results/mini)") -> Path:
    """Refuse (:class:`ConfigError`) an ``--out`` that is or contains the data folder, or lies
    inside one of its stores; returns ``out_dir`` resolved.  ``advice`` ends the message."""
    out, data = Path(out_dir).resolve(), Path(data_dir).resolve()
    if data == out or data.is_relative_to(out):
        raise ConfigError(f"--out {out_dir} is or contains the data folder {data_dir}: {advice}")
    for store in data.glob("*.zarr"):
        if out.is_relative_to(store.resolve()):
            raise ConfigError(f"--out {out_dir} lies inside the store {store}: {advice}")
    return out


def check_replaceable(folder, source: str) -> None:
    """Refuse (:class:`ConfigError`) to replace ``folder`` unless it is a results folder this
    package wrote for the same solver and source (or does not exist, or is empty)."""
    folder = Path(folder)
    if not folder.exists() and not folder.is_symlink():
        return
    keep = "; nothing was changed: evaluate into another --out folder or move it away"
    if folder.is_symlink() or not folder.is_dir():
        raise ConfigError(f"{folder} exists and is not a results folder written by neuralpde{keep}")
    entries = set(os.listdir(folder))
    if not entries:
        return
    foreign = sorted(entries - RESULT_FILES)
    if foreign or SUMMARY_FILE not in entries:
        what = f"files neuralpde did not write ({', '.join(foreign[:5])})" if foreign \
            else f"no {SUMMARY_FILE}"
        raise ConfigError(f"{folder} is not a results folder written by neuralpde (it holds "
                          f"{what}){keep}")
    summary = read_summary(folder)
    if summary.get("solver") != folder.name:
        raise ConfigError(f"{folder / SUMMARY_FILE} is the summary of {summary.get('solver')!r}, "
                          f"not of {folder.name!r}{keep}")
    previous = summary.get("source", "")
    if source and previous and not same_source(previous, source):
        raise ConfigError(f"{folder} holds the results of {previous!r}, not of {source!r} (same "
                          "solver name): evaluate into another --out folder or rename the "
                          f"{_renamed(source)}")


def _renamed(source: str) -> str:
    """What to rename to give the solver of ``source`` another results folder name."""
    return {"pretrained": "weights file", "file": "rollout's `solver` attribute"}.get(
        source_scheme(source), "run folder")


def write_results(folder, summary: ResultSummary,
                  write: Callable[[Path], None]) -> ResultSummary:
    """Write a results folder atomically; returns ``summary``.

    ``write(tmp)`` writes the trajectory and metrics into the temporary folder;
    ``summary.json`` (:meth:`ResultSummary.to_json`) is written last.  The
    temporary is a fresh hidden folder ``<out>/.<name>.writing-*`` (removed if
    anything fails).  An existing ``folder`` is checked again
    (:func:`check_replaceable`), moved aside, replaced, and only then removed.

    Raises:
      ConfigError: an unsafe folder name, or a folder that may not be replaced.
      OSError: the file system refused a write (the temporary is removed).
    """
    folder = Path(folder)
    check_results_name(folder.name)
    check_replaceable(folder, summary.source or "")
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.writing-", dir=folder.parent))
    try:
        write(tmp)
        (tmp / SUMMARY_FILE).write_text(summary.to_json())
        old = None
        if folder.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{folder.name}.old-", dir=folder.parent))
            os.replace(folder, old / folder.name)
        os.replace(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return summary


def summary_is_current(folder, newer_than=None, reference=None) -> bool:
    """Whether ``folder/summary.json`` exists and still scores what it would score now.

    Lets drivers (quickstart, experiments) skip evaluations that are already
    done.  ``newer_than``: a file the summary must be newer than, e.g.
    ``<run>/metrics.jsonl`` for a trained model (a missing file is no
    constraint).  ``reference``: the test store the evaluation must have used:
    the summary must name it (``summary["reference"]``, resolved) and be newer
    than it, so a test store regenerated in the same place makes older scores
    stale instead of silently reused.  An unreadable summary is not current.
    """
    summary = Path(folder) / SUMMARY_FILE
    if not summary.exists():
        return False
    stamp = summary.stat().st_mtime
    if reference is not None:
        reference = Path(reference)
        try:
            recorded = read_summary(folder).get("reference")
        except ConfigError:
            return False
        if (not reference.exists() or recorded != str(reference.resolve())
                or stamp <= reference.stat().st_mtime):
            return False
    if newer_than is not None and Path(newer_than).exists():
        return stamp > Path(newer_than).stat().st_mtime
    return True


__all__ = ["SUMMARY_FILE", "METRICS_FILE", "TRAJECTORY_FILE", "RESULT_FILES", "COMPARISON_MARKDOWN",
           "COMPARISON_CSV", "FIGURES_FOLDER", "MAX_NAME",
           "check_results_name", "results_name", "same_source", "check_out_dir", "read_summary",
           "check_replaceable", "write_results", "summary_is_current"]
