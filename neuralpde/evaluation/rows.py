"""The rows of a comparison: every solver's summary in a results folder, read and checked.

:func:`load_results` reads ``<results>/*/summary.json`` (each checked by
:meth:`neuralpde.evaluation.summary.ResultSummary.load`) into row dicts, the
form :mod:`~neuralpde.evaluation.ladders`, :mod:`~neuralpde.evaluation.tables`
and :mod:`~neuralpde.evaluation.compare` add columns to.  :func:`finite_number`
and :func:`on_model_grid` read a row's fields as they do.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from neuralpde.evaluation.summary import REQUIRED_FIELDS, SUMMARY_FILE, ResultSummary

__all__ = ["REQUIRED_KEYS", "KIND_ORDER", "load_results", "finite_number", "on_model_grid"]

#: Keys every summary row has (:data:`~neuralpde.evaluation.summary.REQUIRED_FIELDS`).
REQUIRED_KEYS = REQUIRED_FIELDS
#: The order of kinds in a comparison (other kinds follow, alphabetically).
KIND_ORDER = ("dns", "spectral", "weno", "learned", "external")


def _kind_key(kind: str) -> tuple[int, str]:
    kind = str(kind)
    return (KIND_ORDER.index(kind) if kind in KIND_ORDER else len(KIND_ORDER), kind)


def load_results(results_dir: str | os.PathLike) -> list[dict]:
    """Read every ``<results_dir>/*/summary.json``.

    Each returned dict is the summary as written
    (:meth:`~neuralpde.evaluation.summary.ResultSummary.to_dict`: the keys an old
    summary lacked stay absent) plus ``results_path`` (its solver folder, a str).
    Sorted by kind (:data:`KIND_ORDER`, then others alphabetically), then size, then
    solver name.  Folders of interrupted evaluations (hidden ``.<solver>.writing-*``,
    or an older ``<solver>.writing``) are left out.

    Raises:
      FileNotFoundError: if ``results_dir`` does not exist, is not a folder, or
        holds no ``*/summary.json`` (run ``neuralpde evaluate`` first).
      ConfigError: (a ``ValueError``) if a summary is not valid JSON, lacks one of
        ``solver``, ``kind``, ``size``, ``duration_of_mean``, or has a field of the
        wrong type (the file and the field are named).
    """
    root = Path(results_dir)
    if not root.exists():
        raise FileNotFoundError(f"results folder {root} does not exist: "
                                "run `neuralpde evaluate` first")
    if not root.is_dir():
        raise FileNotFoundError(f"results folder {root} is not a folder")
    # a hidden '.<solver>.writing-*' (or an older '<solver>.writing') is an evaluation that
    # was interrupted before it finished
    files = [f for f in sorted(root.glob(f"*/{SUMMARY_FILE}"))
             if not (f.parent.name.startswith(".") or f.parent.name.endswith(".writing"))]
    if not files:
        raise FileNotFoundError(
            f"results folder {root} holds no */{SUMMARY_FILE}: expected one sub-folder per "
            "solver written by `neuralpde evaluate`"
        )
    rows = []
    for file in files:
        row = ResultSummary.load(file).to_dict()
        row["results_path"] = str(file.parent)
        rows.append(row)
    rows.sort(key=lambda r: (_kind_key(r["kind"]), int(r["size"]), str(r["solver"])))
    return rows


def finite_number(x: Any) -> float | None:
    """``float(x)`` if ``x`` is a finite number (or a string of one), else None."""
    try:
        x = float(x)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def on_model_grid(row: Mapping) -> bool:
    """Whether a result was compared with the reference on the model grid (all but lone
    sub-solvers; a row without ``compared_on`` was)."""
    return row.get("compared_on", "model grid") == "model grid"
