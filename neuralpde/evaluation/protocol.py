"""Whether the rows of a comparison were scored alike (their durations comparable).

Two rows' durations are comparable only when they were scored with the same
:data:`PROTOCOL_FIELDS`: the same number of samples, horizon (compared by the
frames it covers), threshold and test store.  :func:`scored_unlike` names the
rows that were not, for the note under ``comparison.md``'s table.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from neuralpde.evaluation.tables import format_cell

__all__ = ["PROTOCOL_FIELDS", "scored_unlike"]

#: Summary fields that must agree for two rows' durations to be comparable.
PROTOCOL_FIELDS = ("n_samples", "horizon", "threshold", "reference")


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)
    return a == b


def _frames(row: Mapping) -> Any:
    """The frames a row's horizon covers (floor(horizon / frame spacing) + 1), else the horizon."""
    try:
        spacing = float(row["dt"]) * int(row["steps_per_frame"])
        return int(math.floor(float(row["horizon"]) / spacing + 1e-6)) + 1
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return row.get("horizon")


def _differs(key: str, row: Mapping, first: Mapping) -> bool:
    if key == "horizon":  # 0.45 and 0.5 cover the same frames: the same scoring
        return _frames(row) != _frames(first)
    if key == "reference":  # a moved results folder: compare only stores that are both found
        a, b = Path(str(row.get(key, ""))), Path(str(first.get(key, "")))
        return a.exists() and b.exists() and a.resolve() != b.resolve()
    return not _same(row.get(key), first.get(key))


def scored_unlike(rows: Sequence[Mapping]) -> list[str]:
    """``'`name`: field a (first row: b), ...'`` for every row scored with other
    :data:`PROTOCOL_FIELDS` than the first row (an empty list when all agree; horizons
    are compared by the frames they cover, reference stores only when both exist)."""
    first = rows[0]
    out = []
    for row in rows[1:]:
        differ = [f"{k} {format_cell(row.get(k))} (first row: {format_cell(first.get(k))})"
                  for k in PROTOCOL_FIELDS if _differs(k, row, first)]
        if differ:
            out.append(f"`{row['solver']}`: " + ", ".join(differ))
    return out

