"""The comparison table: one row per solver, as a :class:`pandas.DataFrame` and as Markdown.

:func:`comparison_table` turns the row dicts of
:func:`neuralpde.evaluation.rows.load_results` (with the columns of
:mod:`neuralpde.evaluation.ladders`) into the table ``neuralpde compare``
writes as CSV; :func:`to_markdown` renders it as a GitHub pipe table, and
:func:`format_cell` is how every cell (and every value quoted next to the
table) is written.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from neuralpde.evaluation.ladders import FAMILIES, equivalent_dns, fair_comparison
from neuralpde.evaluation.rows import finite_number

__all__ = ["TABLE_COLUMNS", "family_columns", "format_cell", "comparison_table", "to_markdown"]

#: Columns of :func:`comparison_table`, in order (family columns only for families present).
TABLE_COLUMNS = (
    "solver", "kind", "grid", "duration", "duration mean ± std", "min", "max",
    "latency [s/t.u.]", "device", "equivalent DNS", "diverged",
)
#: The column of the speed-up against the cheapest family (when a family is present).
BEST_COLUMN = "speed-up vs best classical"


def family_columns(family: str) -> tuple[str, str]:
    """The table columns of one family: (speed-up at equal duration, duration at equal cost)."""
    return f"speed-up vs {family}", f"{family} duration at equal cost"


def _round(x: Any, digits: int = 4) -> float:
    x = finite_number(x)
    return float("nan") if x is None else round(x, digits)


def format_cell(x: Any) -> str:
    """Cell text of the value ``x``: '–' for None or a non-finite number, integers (and
    integral floats below 10⁶) plainly, other floats to 4 significant digits, anything
    else as ``str``."""
    if x is None:
        return "–"
    if isinstance(x, (bool, np.bool_)):
        return str(bool(x))
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    if isinstance(x, (float, np.floating)):
        if not math.isfinite(x):
            return "–"
        if float(x).is_integer() and abs(x) < 1e6:
            return str(int(x))
        return f"{x:.4g}"
    return str(x)


def _bounded(value, bound, digits=3) -> str:
    value = finite_number(value)
    return "–" if value is None else f"{bound}{format_cell(round(value, digits))}"


def _record(r: Mapping, families: Sequence[str]) -> dict:
    """The table row of the summary row ``r`` (see :func:`comparison_table`)."""
    mean, std = finite_number(r.get("duration_mean")), finite_number(r.get("duration_std"))
    spread = "–" if mean is None else (
        format_cell(round(mean, 3)) + ("" if std is None else f" ± {format_cell(round(std, 3))}"))
    resolution = r.get("equivalent_dns_resolution")
    equivalent: Any = (round(float(resolution), 1) if resolution is not None
                       else (r.get("equivalent_dns_note") or "–"))
    n_div, n = r.get("diverged_samples"), r.get("n_samples")
    diverged = "–" if n_div is None else (f"{int(n_div)}/{int(n)}" if n is not None
                                          else str(int(n_div)))
    record = {
        "solver": str(r.get("solver", "?")),
        "kind": str(r.get("kind", "?")),
        "grid": int(r["size"]) if r.get("size") is not None else None,
        "duration": _round(r.get("duration_of_mean")),
        "duration mean ± std": spread,
        "min": _round(r.get("duration_min")),
        "max": _round(r.get("duration_max")),
        "latency [s/t.u.]": finite_number(r.get("latency_s_per_time_unit")),
        "device": str(r.get("device", "–")),
        "equivalent DNS": equivalent,
        "diverged": diverged,
    }
    for name in families:
        key = name.replace("-", "_")
        speedup, at_cost = family_columns(name)
        record[speedup] = _bounded(r.get(f"speedup_vs_{key}"),
                                   r.get(f"speedup_vs_{key}_bound", ""))
        record[at_cost] = _bounded(r.get(f"{key}_duration_at_cost"),
                                   r.get(f"{key}_duration_at_cost_bound", ""))
    if families:
        best = r.get("best_family")
        record[BEST_COLUMN] = (
            "–" if best is None else
            f"{_bounded(r.get('speedup_vs_best'), r.get('speedup_vs_best_bound', ''))} "
            f"({best})")
    return record


def comparison_table(rows: Iterable[Mapping]) -> pd.DataFrame:
    """One row per solver, columns :data:`TABLE_COLUMNS`.

    Rows without ``equivalent_dns_resolution`` are passed through
    :func:`~neuralpde.evaluation.ladders.equivalent_dns` first, rows without
    ``speedup_vs_best`` through :func:`~neuralpde.evaluation.ladders.fair_comparison`.
    Numbers stay numbers (NaN when missing) except the composite columns:
    ``duration mean ± std`` and ``diverged`` ("k/n") are strings, and
    ``equivalent DNS`` holds the resolution (float, one decimal) or its note
    (e.g. "> 128").  Before ``diverged``: per classical family present, its two
    :func:`family_columns`, and the speed-up against the best family.
    """
    rows = list(rows)
    if rows and any("equivalent_dns_resolution" not in r for r in rows):
        rows = equivalent_dns(rows)
    if rows and any("speedup_vs_best" not in r for r in rows):
        rows = fair_comparison(rows)
    families = [name for name, member in FAMILIES.items() if any(member(r) for r in rows)]
    records = [_record(r, families) for r in rows]
    columns = list(TABLE_COLUMNS[:-1]) + [c for name in families for c in family_columns(name)]
    columns += ([BEST_COLUMN] if families else []) + ["diverged"]
    df = pd.DataFrame.from_records(records, columns=columns)
    df["latency [s/t.u.]"] = df["latency [s/t.u.]"].astype(float)
    return df


def to_markdown(df: pd.DataFrame) -> str:
    """A GitHub-flavoured pipe table of ``df`` (numeric columns right-aligned), ending in a
    newline."""
    columns = [str(c) for c in df.columns]
    numeric = [pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c])
               for c in df.columns]

    def cell(x: Any) -> str:
        return format_cell(x).replace("|", "\\|").replace("\n", " ")

    body = [[cell(x) for x in row] for row in df.itertuples(index=False, name=None)]
    header = [c.replace("|", "\\|") for c in columns]
    widths = [max([len(header[j]), 3] + [len(b[j]) for b in body]) for j in range(len(columns))]

    def line(cells: Sequence[str]) -> str:
        padded = [c.rjust(w) if num else c.ljust(w) for c, w, num in zip(cells, widths, numeric)]
        return "| " + " | ".join(padded) + " |"

    rule = "|" + "|".join(("-" * (w + 1) + ":") if num else ("-" * (w + 2))
                          for w, num in zip(widths, numeric)) + "|"
    return "\n".join([line(header), rule] + [line(b) for b in body]) + "\n"

