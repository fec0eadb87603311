"""Compare evaluated solvers: result tables, DNS-equivalent resolution, figures.

Input is the results folder written by ``neuralpde evaluate``: one sub-folder
per solver, ``<results>/<solver>/`` with ``summary.json``, ``metrics.nc`` and
``trajectory.zarr``.  Output (``neuralpde compare``): ``comparison.md``,
``comparison.csv`` and ``figures/{correlation,snapshots,spectra,pareto}.png``.

Public API
----------
* :func:`load_results` — every ``*/summary.json`` as a list of dicts.
* :func:`equivalent_dns` — where each solver's duration falls on the DNS
  duration-vs-resolution curve.
* :func:`fair_comparison` — each row against every classical family's ladder: the
  cost at which the family lasts as long (equal accuracy), the duration it
  reaches at the row's cost (equal cost), the speed-up against the best family.
* :func:`comparison_table` — one row per solver as a :class:`pandas.DataFrame`.
* :func:`to_markdown` — a GitHub pipe table (no ``tabulate`` needed).
* :func:`compare` — all of the above, written to disk.

Equivalent DNS resolution
-------------------------
The DNS rows (``kind == "dns"``) give durations :math:`d_i` at sizes
:math:`s_i` (sorted by size; the running maximum of :math:`d_i` is used so the
curve never decreases).  A duration :math:`D` with :math:`d_{i-1} < D \\le d_i`
maps to

.. math::  \\log_2 R = \\log_2 s_{i-1} + \\frac{D - d_{i-1}}{d_i - d_{i-1}}
           (\\log_2 s_i - \\log_2 s_{i-1}),

the smallest resolution whose (interpolated) DNS lasts as long.  Outside the
DNS range it is None and ``equivalent_dns_note`` says ``"< 32"`` or
``"> 1024"``.  The cost side (how much cheaper or dearer than DNS a row is at
equal duration) is :func:`fair_comparison`'s, for every family alike.

Equal accuracy and equal cost
-----------------------------
A skeptical comparison asks two questions of every row, against every
classical family it can be matched with (McGreivy & Hakim, Nature Machine
Intelligence 2024: compare at equal accuracy or equal runtime against the
strongest methods).  The families (:data:`FAMILIES`) are the finite-volume
DNS ladder (``dns``), the pseudo-spectral ladder (``spectral``) and the
WENO5-Z ladder (``weno5-z``), each a set of rows of one method at several
grids.  On a family's ladder, points :math:`(\\log c_i, d_i)` sorted by cost
:math:`c_i` (latency, s per time unit; the running maximum of the durations
:math:`d_i` is used), both questions are answered by linear interpolation in
log cost:

* *equal accuracy*: the cost at which the family reaches the row's duration
  :math:`D` (``cost_at_duration``); the row's speed-up against the family is
  that cost over the row's latency.  A duration below the cheapest rung's
  gives an upper bound (``≤``: the cheapest rung already lasts as long), one
  above the costliest rung a lower bound (``>``: extend the ladder);
* *equal cost*: the duration the family reaches at the row's latency
  (``duration_at_cost``); a latency above the costliest rung gives a lower
  bound (``≥``), one below the cheapest rung none (``–``: the family cannot
  run that cheaply).

``speedup_vs_best`` is the row's speed-up against the family that reaches
:math:`D` at the least cost; it is a bound (``≤``/``≥``) where the answer
rests on one.  A row is matched only with the family's rungs timed on its own
device (latencies of different devices are not comparable): a family timed on
several devices is one ladder per device.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from neuralpde.evaluation.results import METRICS_FILE, SUMMARY_FILE, TRAJECTORY_FILE
from neuralpde.outputs import write_text_atomic

__all__ = ["load_results", "equivalent_dns", "fair_comparison", "cost_at_duration",
           "duration_at_cost", "comparison_table", "to_markdown", "compare"]

REQUIRED_KEYS = ("solver", "kind", "size", "duration_of_mean")
KIND_ORDER = ("dns", "spectral", "weno", "learned", "external")
FIGURES = ("correlation", "snapshots", "spectra", "pareto")
DEFAULT_SNAPSHOT_TIMES = (0.0, 1.0, 2.0, 4.0)

#: Classical families matched by :func:`fair_comparison`: name → predicate on a summary row.
FAMILIES = {
    "dns": lambda row: row.get("kind") == "dns",
    "spectral": lambda row: row.get("kind") == "spectral",
    "weno5-z": lambda row: row.get("kind") == "weno"
    and str(row.get("solver", "")).startswith("weno5-z"),
}

#: Columns of :func:`comparison_table`, in order (family columns only for families present).
TABLE_COLUMNS = (
    "solver", "kind", "grid", "duration", "duration mean ± std", "min", "max",
    "latency [s/t.u.]", "device", "equivalent DNS", "diverged",
)


def family_columns(family: str) -> tuple[str, str]:
    """The table columns of one family: (speed-up at equal duration, duration at equal cost)."""
    return f"speed-up vs {family}", f"{family} duration at equal cost"


# --------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------


def _kind_key(kind: str) -> tuple[int, str]:
    kind = str(kind)
    return (KIND_ORDER.index(kind) if kind in KIND_ORDER else len(KIND_ORDER), kind)


def load_results(results_dir: str | os.PathLike) -> list[dict]:
    """Read every ``<results_dir>/*/summary.json``.

    Each returned dict is the summary plus ``results_path`` (its solver folder,
    a str).  Sorted by kind (dns, weno, learned, then others alphabetically),
    then size, then solver name.

    Raises:
      FileNotFoundError: if ``results_dir`` does not exist, is not a folder, or
        holds no ``*/summary.json`` (run ``neuralpde evaluate`` first).
      ValueError: if a summary is not valid JSON or lacks one of ``solver``,
        ``kind``, ``size``, ``duration_of_mean`` (the file is named).
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
        try:
            row = json.loads(file.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ValueError(f"{file} is not a readable JSON summary: {error}") from error
        if not isinstance(row, dict):
            raise ValueError(f"{file} must hold a JSON object, got {type(row).__name__}")
        missing = [k for k in REQUIRED_KEYS if k not in row]
        if missing:
            raise ValueError(f"{file} lacks the keys {missing} (needs {list(REQUIRED_KEYS)})")
        row["results_path"] = str(file.parent)
        rows.append(row)
    rows.sort(key=lambda r: (_kind_key(r["kind"]), int(r["size"]), str(r["solver"])))
    return rows


# --------------------------------------------------------------------------
# Equivalent DNS resolution and speed-up
# --------------------------------------------------------------------------


def _finite(x: Any) -> float | None:
    """float(x) if x is a finite number, else None."""
    try:
        x = float(x)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def _size_label(size: float) -> str:
    return f"{size:g}"


def _dns_curve(rows: Sequence[Mapping]) -> tuple[np.ndarray, np.ndarray]:
    """The DNS curve: (log2 sizes, running-max durations); several rows at one size: the
    longest duration."""
    durations: dict[int, float] = {}
    for row in rows:
        if row.get("kind") != "dns":
            continue
        d = _finite(row.get("duration_of_mean"))
        if d is not None:
            size = int(row["size"])
            durations[size] = max(d, durations.get(size, -math.inf))
    sizes = sorted(durations)
    log2_sizes = np.log2(np.asarray(sizes, dtype=float))
    return log2_sizes, np.maximum.accumulate(np.asarray([durations[s] for s in sizes],
                                                        dtype=float))


def _resolution_for(duration: float, log2_sizes: np.ndarray, durations: np.ndarray) -> float:
    """log2 of the smallest resolution whose (non-decreasing) DNS duration reaches ``duration``.

    Requires durations[0] <= duration <= durations[-1].
    """
    i = int(np.argmax(durations >= duration))  # first index reaching it
    if i == 0 or durations[i] == duration:
        return float(log2_sizes[i])
    d0, d1 = durations[i - 1], durations[i]
    frac = (duration - d0) / (d1 - d0)  # d0 < duration <= d1, so d1 > d0
    return float(log2_sizes[i - 1] + frac * (log2_sizes[i] - log2_sizes[i - 1]))


def on_model_grid(row: Mapping) -> bool:
    """Whether a result was compared with the reference on the model grid (all but lone
    sub-solvers)."""
    return row.get("compared_on", "model grid") == "model grid"


def equivalent_dns(rows: Iterable[Mapping]) -> list[dict]:
    """Add the DNS-equivalent resolution to every row.

    Returns new dicts (the input is not modified) with

    * ``equivalent_dns_resolution`` (float or None): the grid size at which
      DNS lasts as long as this row (interpolated linearly in log2 of the
      resolution on the running-maximum DNS duration curve; see the module
      docstring).  DNS rows get their own size.
    * ``equivalent_dns_note`` (str or None): ``"< 32"`` / ``"> 1024"`` when
      the duration lies below / above the DNS range, ``"no DNS"`` when there
      are no DNS rows, ``"no duration"`` when the row has none, ``"other
      reference"`` when the row was compared with another view of the
      reference (a lone staggered sub-solver against a sub-field, see
      ``summary["compared_on"]``); None otherwise.

    The speed-up over DNS at equal duration is :func:`fair_comparison`'s
    (``speedup_vs_dns``), the same rule as for every other family.
    """
    rows = [dict(r) for r in rows]
    d_log2, d_vals = _dns_curve(rows)
    for row in rows:
        resolution: float | None = None
        note: str | None = None
        duration = _finite(row.get("duration_of_mean"))
        if row.get("kind") == "dns":
            resolution = float(row["size"])
        elif not on_model_grid(row):
            note = "other reference"
        elif d_vals.size == 0:
            note = "no DNS"
        elif duration is None:
            note = "no duration"
        elif duration < d_vals[0]:
            note = f"< {_size_label(2 ** d_log2[0])}"
        elif duration > d_vals[-1]:
            note = f"> {_size_label(2 ** d_log2[-1])}"
        else:
            resolution = float(2.0 ** _resolution_for(duration, d_log2, d_vals))
        row["equivalent_dns_resolution"] = resolution
        row["equivalent_dns_note"] = note
    return rows


def _ladder(rows: Sequence[Mapping], member) -> tuple[np.ndarray, np.ndarray]:
    """A family's ladder: (log costs ascending, running-max durations)."""
    points = sorted((lat, d) for r in rows if member(r)
                    for lat, d in [(_finite(r.get("latency_s_per_time_unit")),
                                    _finite(r.get("duration_of_mean")))]
                    if lat is not None and lat > 0 and d is not None)
    log_cost = np.log(np.asarray([p[0] for p in points], dtype=float))
    durations = np.maximum.accumulate(np.asarray([p[1] for p in points], dtype=float)) \
        if points else np.zeros(0)
    return log_cost, durations


def cost_at_duration(duration: float, log_cost: np.ndarray, durations: np.ndarray):
    """``(cost, bound)``: the cost (s/t.u.) at which a ladder reaches ``duration``.

    ``bound`` is ``""`` (interpolated in log cost), ``"≤"`` (the cheapest rung
    already lasts as long: its cost) or ``">"`` (no rung lasts as long: the
    costliest rung's cost).  ``(None, "")`` for an empty ladder.
    """
    if durations.size == 0:
        return None, ""
    if duration <= durations[0]:
        return float(np.exp(log_cost[0])), ("" if duration == durations[0] else "≤")
    if duration > durations[-1]:
        return float(np.exp(log_cost[-1])), ">"
    i = int(np.argmax(durations >= duration))
    d0, d1 = durations[i - 1], durations[i]
    frac = (duration - d0) / (d1 - d0)
    return float(np.exp(log_cost[i - 1] + frac * (log_cost[i] - log_cost[i - 1]))), ""


def duration_at_cost(cost: float, log_cost: np.ndarray, durations: np.ndarray):
    """``(duration, bound)``: the duration a ladder reaches at ``cost`` (s/t.u.).

    Interpolated linearly in log cost; ``"≥"`` above the costliest rung (its
    duration); ``(None, "")`` below the cheapest rung or for an empty ladder.
    """
    if durations.size == 0:
        return None, ""
    x = math.log(cost)
    if x < log_cost[0] - 1e-9:
        return None, ""
    if x > log_cost[-1] + 1e-9:
        return float(durations[-1]), "≥"
    return float(np.interp(x, log_cost, durations)), ""


def fair_comparison(rows: Iterable[Mapping]) -> list[dict]:
    """Add, for every classical family present, equal-accuracy and equal-cost fields to each row.

    Returns new dicts with, per family ``F`` of :data:`FAMILIES` that has rows:

    * ``speedup_vs_<F>`` (float or None) and ``speedup_vs_<F>_bound`` (``""``,
      ``"≤"`` or ``">"``): the cost at which F lasts as long as this row
      (:func:`cost_at_duration`) over this row's latency;
    * ``<F>_duration_at_cost`` and ``<F>_duration_at_cost_bound``: the duration F
      reaches at this row's latency (:func:`duration_at_cost`);

    and ``speedup_vs_best`` / ``speedup_vs_best_bound`` / ``best_family``:
    the speed-up against the family that lasts as long at the least cost
    (``"≤"`` when a family whose ladder stops short of the duration is cheaper
    at its costliest rung; ``best_family = "none reaches it"`` and ``">"``
    when no ladder lasts as long).
    All None for a row without a duration or latency, compared on another
    view of the reference, or timed on a device where the family has no rung
    (a family timed on several devices is one ladder per device).
    See the module docstring for the rules.
    """
    rows = [dict(r) for r in rows]
    # one ladder per family and device: latencies of different devices are not comparable
    ladders = {(name, device): _ladder(rows, lambda r, m=member, d=device: m(r)
                                       and r.get("device") == d)
               for name, member in FAMILIES.items()
               for device in dict.fromkeys(r.get("device") for r in rows if member(r))}
    for row in rows:
        latency = _finite(row.get("latency_s_per_time_unit"))
        duration = _finite(row.get("duration_of_mean"))
        usable = latency is not None and latency > 0 and duration is not None \
            and on_model_grid(row)
        found = []  # (family, cost, bound) of the families matched with this row
        for name in dict.fromkeys(name for name, _ in ladders):
            log_cost, durations = ladders.get((name, row.get("device")), (None, np.zeros(0)))
            key = name.replace("-", "_")
            speedup = bound = at_cost = at_cost_bound = None
            if usable and durations.size:
                cost, bound = cost_at_duration(duration, log_cost, durations)
                speedup = cost / latency
                at_cost, at_cost_bound = duration_at_cost(latency, log_cost, durations)
                found.append((name, cost, bound))
            row[f"speedup_vs_{key}"], row[f"speedup_vs_{key}_bound"] = speedup, bound or ""
            row[f"{key}_duration_at_cost"] = at_cost
            row[f"{key}_duration_at_cost_bound"] = at_cost_bound or ""
        reaching = [f for f in found if f[2] != ">"]
        if reaching:
            name, cost, bound = min(reaching, key=lambda f: (f[1], f[2] != ""))
            # a family not reaching D within its ladder but cheaper at its costliest rung
            # might reach D below this cost: the answer is then an upper bound
            if any(f[2] == ">" and f[1] < cost for f in found):
                bound = "≤"
            row["best_family"], row["speedup_vs_best"] = name, cost / latency
            row["speedup_vs_best_bound"] = bound
        elif found:  # no ladder lasts as long: every family costs more than its costliest rung
            row["best_family"] = "none reaches it"
            row["speedup_vs_best"] = min(f[1] for f in found) / latency
            row["speedup_vs_best_bound"] = ">"
        else:
            row["best_family"], row["speedup_vs_best"], row["speedup_vs_best_bound"] = \
                None, None, ""
    return rows


# --------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------


def _round(x: Any, digits: int = 4) -> float:
    x = _finite(x)
    return float("nan") if x is None else round(x, digits)


def _fmt(x: Any) -> str:
    """Cell text: '–' for missing, integers plainly, floats to 4 significant digits."""
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


def comparison_table(rows: Iterable[Mapping]) -> pd.DataFrame:
    """One row per solver, columns :data:`TABLE_COLUMNS`.

    Rows without ``equivalent_dns_resolution`` are passed through
    :func:`equivalent_dns` first.  Numbers stay numbers (NaN when missing)
    except the composite columns: ``duration mean ± std`` and ``diverged``
    ("k/n") are strings, and ``equivalent DNS`` holds the resolution (float,
    one decimal) or its note (e.g. "> 128").
    """
    rows = list(rows)
    if rows and any("equivalent_dns_resolution" not in r for r in rows):
        rows = equivalent_dns(rows)
    if rows and any("speedup_vs_best" not in r for r in rows):
        rows = fair_comparison(rows)
    families = [name for name, member in FAMILIES.items() if any(member(r) for r in rows)]

    def bounded(value, bound, digits=3):
        value = _finite(value)
        return "–" if value is None else f"{bound}{_fmt(round(value, digits))}"

    records = []
    for r in rows:
        mean, std = _finite(r.get("duration_mean")), _finite(r.get("duration_std"))
        spread = "–" if mean is None else (
            _fmt(round(mean, 3)) + ("" if std is None else f" ± {_fmt(round(std, 3))}"))
        resolution = r.get("equivalent_dns_resolution")
        equivalent: Any = (round(float(resolution), 1) if resolution is not None
                           else (r.get("equivalent_dns_note") or "–"))
        n_div, n = r.get("diverged_samples"), r.get("n_samples")
        diverged = "–" if n_div is None else (f"{int(n_div)}/{int(n)}" if n is not None
                                              else str(int(n_div)))
        records.append({
            "solver": str(r.get("solver", "?")),
            "kind": str(r.get("kind", "?")),
            "grid": int(r["size"]) if r.get("size") is not None else None,
            "duration": _round(r.get("duration_of_mean")),
            "duration mean ± std": spread,
            "min": _round(r.get("duration_min")),
            "max": _round(r.get("duration_max")),
            "latency [s/t.u.]": _finite(r.get("latency_s_per_time_unit")),
            "device": str(r.get("device", "–")),
            "equivalent DNS": equivalent,
            "diverged": diverged,
        })
        for name in families:
            key = name.replace("-", "_")
            speedup, at_cost = family_columns(name)
            records[-1][speedup] = bounded(r.get(f"speedup_vs_{key}"),
                                           r.get(f"speedup_vs_{key}_bound", ""))
            records[-1][at_cost] = bounded(r.get(f"{key}_duration_at_cost"),
                                           r.get(f"{key}_duration_at_cost_bound", ""))
        if families:
            best = r.get("best_family")
            records[-1]["speed-up vs best classical"] = (
                "–" if best is None else
                f"{bounded(r.get('speedup_vs_best'), r.get('speedup_vs_best_bound', ''))} "
                f"({best})")
    columns = list(TABLE_COLUMNS[:-1]) + [c for name in families for c in family_columns(name)]
    columns += (["speed-up vs best classical"] if families else []) + ["diverged"]
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
        return _fmt(x).replace("|", "\\|").replace("\n", " ")

    body = [[cell(x) for x in row] for row in df.itertuples(index=False, name=None)]
    header = [c.replace("|", "\\|") for c in columns]
    widths = [max([len(header[j]), 3] + [len(b[j]) for b in body]) for j in range(len(columns))]

    def line(cells: Sequence[str]) -> str:
        padded = [c.rjust(w) if num else c.ljust(w) for c, w, num in zip(cells, widths, numeric)]
        return "| " + " | ".join(padded) + " |"

    rule = "|" + "|".join(("-" * (w + 1) + ":") if num else ("-" * (w + 2))
                          for w, num in zip(widths, numeric)) + "|"
    return "\n".join([line(header), rule] + [line(b) for b in body]) + "\n"


# --------------------------------------------------------------------------
# Figure inputs
# --------------------------------------------------------------------------


def _open_metrics(row: Mapping) -> xr.Dataset | None:
    path = Path(row["results_path"]) / METRICS_FILE
    if not path.exists():
        warnings.warn(f"{path} is missing: solver {row['solver']!r} left out of the "
                      "correlation and spectrum figures", stacklevel=3)
        return None
    try:
        with xr.open_dataset(path) as ds:
            ds = ds.load()
    except Exception as error:  # noqa: BLE001 - HDF5/netCDF/decode: any unreadable file
        warnings.warn(f"{path} cannot be read ({type(error).__name__}: {str(error)[:120]}): "
                      f"solver {row['solver']!r} left out of the correlation and spectrum "
                      "figures; re-run its `neuralpde evaluate`", stacklevel=3)
        return None
    return ds


def _correlation_curves(rows: Sequence[Mapping], metrics: Mapping[str, xr.Dataset]) -> dict:
    curves = {}
    for row in rows:
        ds = metrics.get(row["solver"])
        if ds is None:
            continue
        corr = (ds["correlation_mean"] if "correlation_mean" in ds
                else ds["correlation"].mean("sample"))
        curves[row["solver"]] = (np.asarray(corr["time"].values, float),
                                 np.asarray(corr.values, float))
    return curves


def _spectra(rows: Sequence[Mapping], metrics: Mapping[str, xr.Dataset]) -> dict:
    spectra: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for row in rows:
        ds = metrics.get(row["solver"])
        if ds is None:
            continue
        if "spectrum_pred" not in ds:  # a vorticity-only external rollout has no spectrum
            continue
        k = np.asarray(ds["wavenumber"].values, float)
        if not spectra and "spectrum_ref" in ds:
            spectra["reference"] = (k, np.asarray(ds["spectrum_ref"].values, float))
        spectra[row["solver"]] = (k, np.asarray(ds["spectrum_pred"].values, float))
    if "reference" in spectra:  # reference drawn last, on top
        spectra["reference"] = spectra.pop("reference")
    return spectra


def _open_trajectory(path: Path, what: str) -> xr.Dataset | None:
    if not path.exists():
        warnings.warn(f"{what} is missing ({path}): left out of the snapshots figure", stacklevel=3)
        return None
    try:
        ds = xr.open_zarr(str(path), consolidated=False, chunks=None)
    except Exception as error:  # noqa: BLE001 - zarr/JSON/decode: any unreadable store
        warnings.warn(f"{what} cannot be read ({path}: {type(error).__name__}: "
                      f"{str(error)[:120]}): left out of the snapshots figure", stacklevel=3)
        return None
    lacking = [name for name in ("time", "x", "y") if name not in ds.coords]
    if not ({"u", "v"} <= set(ds.data_vars) or "vorticity" in ds.data_vars):
        lacking.append("u and v (or vorticity)")
    if lacking:
        warnings.warn(f"{what} ({path}) lacks {', '.join(lacking)}: left out of the snapshots "
                      "figure", stacklevel=3)
        return None
    return ds


def _reference_path(row: Mapping, results_dir: Path) -> Path | None:
    ref = row.get("reference")
    if not ref:
        return None
    path = Path(ref)
    if not path.is_absolute() and not path.exists():
        for base in (results_dir, Path(row["results_path"])):
            if (base / path).exists():
                return base / path
    return path


def _snap_times(requested: Sequence[float], times: np.ndarray) -> tuple[list[int], list[float]]:
    """Indices/times of the stored frames nearest to ``requested``; later times are dropped
    with a warning."""
    times = np.asarray(times, dtype=float)
    spacing = float(np.min(np.diff(times))) if times.size > 1 else 1.0
    lo, hi = times[0] - 0.5 * spacing, times[-1] + 0.5 * spacing
    indices, dropped = [], []
    for t in requested:
        t = float(t)
        if not lo <= t <= hi:
            dropped.append(t)
            continue
        i = int(np.argmin(np.abs(times - t)))
        if i not in indices:
            indices.append(i)
    if dropped:
        warnings.warn(
            f"snapshot times {dropped} lie outside the stored frames "
            f"[{times[0]:.4g}, {times[-1]:.4g}]: dropped", stacklevel=3)
    indices.sort()
    return indices, [float(times[i]) for i in indices]


def _vorticity_frames(ds: xr.Dataset, sample, times: Sequence[float]) -> np.ndarray:
    """Vorticity (time, x, y) of one sample at the nearest frames to ``times`` (NaN where none
    is near)."""
    from neuralpde.evaluation.metrics import vorticity

    if sample is not None and sample in set(np.asarray(ds["sample"].values).tolist()):
        one = ds.sel(sample=sample)
    else:
        one = ds.isel(sample=0)
    t = np.asarray(one["time"].values, float)
    spacing = float(np.min(np.diff(t))) if t.size > 1 else 1.0
    nx, ny = int(ds.sizes["x"]), int(ds.sizes["y"])
    out = np.full((len(times), nx, ny), np.nan)
    idx = [int(np.argmin(np.abs(t - s))) for s in times]
    ok = [j for j, (i, s) in enumerate(zip(idx, times)) if abs(t[i] - s) <= 0.5 * spacing + 1e-9]
    if ok and "u" not in ds and "vorticity" in ds:  # a vorticity-only external rollout
        frames = one.isel(time=[idx[j] for j in ok])
        out[ok] = np.asarray(frames["vorticity"].transpose("time", "x", "y").values, dtype=float)
    elif ok:
        frames = one.isel(time=[idx[j] for j in ok])
        u = np.asarray(frames["u"].transpose("time", "x", "y").values)
        v = np.asarray(frames["v"].transpose("time", "x", "y").values)
        dx = float(ds["x"][1] - ds["x"][0])
        dy = float(ds["y"][1] - ds["y"][0])
        out[ok] = np.asarray(vorticity(u, v, dx, dy), dtype=float)
    return out


def _snapshots(rows: Sequence[Mapping], results_dir: Path, requested: Sequence[float]):
    """(vorticity dict with the reference first, snapped times, extent) or None."""
    trajectories = {}
    for row in rows:
        ds = _open_trajectory(Path(row["results_path"]) / TRAJECTORY_FILE,
                              f"trajectory of {row['solver']!r}")
        if ds is not None:
            trajectories[row["solver"]] = ds
    ref_path = _reference_path(rows[0], results_dir)
    reference = None
    if ref_path is None:
        warnings.warn(f"summary of {rows[0]['solver']!r} names no reference store: "
                      "snapshots show the solvers only", stacklevel=3)
    else:
        reference = _open_trajectory(ref_path, "reference store")
    datasets = ({"reference": reference} if reference is not None else {}) | trajectories
    if not datasets:
        return None
    first = next(iter(datasets.values()))
    _, times = _snap_times(requested, first["time"].values)
    if not times:
        return None
    some = next(iter(trajectories.values()), first)
    sample = np.asarray(some["sample"].values)[0] if "sample" in some.coords else None
    fields = {name: _vorticity_frames(ds, sample, times) for name, ds in datasets.items()}
    x, y = np.asarray(first["x"].values, float), np.asarray(first["y"].values, float)
    dx, dy = x[1] - x[0], y[1] - y[0]
    extent = (x[0] - dx / 2, x[-1] + dx / 2, y[0] - dy / 2, y[-1] + dy / 2)
    return fields, times, extent


# --------------------------------------------------------------------------
# compare
# --------------------------------------------------------------------------


def _markdown_document(rows: Sequence[Mapping], table: str) -> str:
    first = rows[0]
    threshold, horizon = first.get("threshold", 0.8), first.get("horizon")
    lines = [
        "# Solver comparison",
        "",
        f"Preset `{first.get('preset', '?')}`, model grid {first.get('model_size', '?')}², "
        f"{first.get('n_samples', '?')} test samples, reference `{first.get('reference', '?')}`.",
        "",
        f"*duration*: time the sample-mean vorticity correlation stays ≥ {_fmt(threshold)} "
        f"(within {_fmt(horizon)} time units); *duration mean ± std*, *min*, *max*: over samples; "
        "*latency*: wall-clock seconds per simulated time unit (batch 1, compile excluded); "
        "*equivalent DNS*: grid at which DNS lasts as long (log2-interpolated); "
        "*speed-up vs F* (F a classical family present: dns, spectral, "
        "weno5-z): the cost at which F's resolution ladder lasts as long (interpolated in log "
        "cost) / the solver's latency, *≤*/*>* where the duration lies below/above the ladder; "
        "*F duration at equal cost*: the duration F's ladder reaches at the solver's latency "
        "(*≥*: above the costliest rung); *speed-up vs best classical*: against the family "
        "that lasts as long most cheaply.",
        "",
        table.rstrip("\n"),
        "",
    ]
    others = [f"`{r['solver']}`: {r['compared_on']}" for r in rows if not on_model_grid(r)]
    if others:
        lines += ["Compared with another view of the reference (durations not comparable with "
                  "the model-grid rows, no equivalent DNS): " + "; ".join(others) + ".", ""]
    unlike = scored_unlike(rows)
    if unlike:
        lines += ["**Scored with other settings than the first row** (durations not comparable "
                  "with it): " + "; ".join(unlike) + ".", ""]
    external = [f"`{r['solver']}`" for r in rows if r.get("kind") == "external"]
    if external:
        lines += ["External rollouts (scored from a file, `file:`): " + ", ".join(external)
                  + "; a latency only where the file states one.", ""]
    return "\n".join(lines)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)
    return a == b


#: Summary fields that must agree for two rows' durations to be comparable.
PROTOCOL_FIELDS = ("n_samples", "horizon", "threshold", "reference")


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
        differ = [f"{k} {_fmt(row.get(k))} (first row: {_fmt(first.get(k))})"
                  for k in PROTOCOL_FIELDS if _differs(k, row, first)]
        if differ:
            out.append(f"`{row['solver']}`: " + ", ".join(differ))
    return out


def compare(
    results_dir: str | os.PathLike,
    snapshot_times: Sequence[float] = DEFAULT_SNAPSHOT_TIMES,
    out_dir: str | os.PathLike | None = None,
) -> dict:
    """Tabulate and plot every solver of a results folder.

    Writes ``comparison.md``, ``comparison.csv`` and
    ``figures/{correlation,snapshots,spectra,pareto}.png`` into ``out_dir``
    (default ``results_dir``).  Snapshot times snap to the nearest stored
    frame; times outside the stored frames are dropped with a warning.
    Snapshots show sample 0, reference (``summary["reference"]`` of the
    first row) first.  A figure without data (e.g. no ``metrics.nc``
    anywhere, no latency) is skipped with a warning.

    Returns:
      A dict with ``markdown`` (the text of comparison.md), ``markdown_path``,
        ``csv_path``, ``figures`` (``{name: path}`` of the figures written),
        ``table`` (the DataFrame) and ``rows`` (with equivalent-DNS fields).

    Raises:
      FileNotFoundError: as :func:`load_results`.
      ValueError: as :func:`load_results`.
    """
    from neuralpde.evaluation import plots

    results_dir = Path(results_dir)
    rows = fair_comparison(equivalent_dns(load_results(results_dir)))
    out = Path(out_dir) if out_dir is not None else results_dir
    out.mkdir(parents=True, exist_ok=True)

    table = comparison_table(rows)
    markdown = _markdown_document(rows, to_markdown(table))
    md_path, csv_path = out / "comparison.md", out / "comparison.csv"
    write_text_atomic(md_path, markdown)
    write_text_atomic(csv_path, table.to_csv(index=False))

    metrics = {}
    for row in rows:
        ds = _open_metrics(row)
        if ds is not None:
            metrics[row["solver"]] = ds
    threshold = float(rows[0].get("threshold", 0.8))

    figures: dict[str, Path] = {}

    def save(name: str, build) -> None:
        try:
            fig = build()
        except ValueError as error:  # nothing to plot
            warnings.warn(f"figure {name!r} skipped: {error}", stacklevel=3)
            return
        if fig is not None:
            figures[name] = plots.save_figure(fig, out / "figures" / f"{name}.png")

    save("correlation",
         lambda: plots.correlation_figure(_correlation_curves(rows, metrics), threshold))

    def snapshots():
        snap = _snapshots(rows, results_dir, snapshot_times)
        if snap is None:
            raise ValueError("no trajectory or snapshot time to show")
        fields, times, extent = snap
        return plots.snapshots_figure(fields, times, extent=extent)

    save("snapshots", snapshots)
    save("spectra", lambda: plots.spectra_figure(_spectra(rows, metrics)))
    save("pareto", lambda: plots.pareto_figure(rows))
    return {
        "markdown": markdown,
        "markdown_path": md_path,
        "csv_path": csv_path,
        "figures": figures,
        "table": table,
        "rows": rows,
    }
