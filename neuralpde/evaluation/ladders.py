r"""Classical ladders: the equivalent DNS resolution; every row at equal accuracy and cost.

Rows are summary dicts (:func:`neuralpde.evaluation.rows.load_results`);
:func:`equivalent_dns` and :func:`fair_comparison` return copies with columns
added, which :func:`neuralpde.evaluation.tables.comparison_table` tabulates.

Equivalent DNS resolution
-------------------------
The DNS rows (``kind == "dns"``) give durations :math:`d_i` at sizes
:math:`s_i` (sorted by size; the running maximum of :math:`d_i` is used so the
curve never decreases).  A duration :math:`D` with :math:`d_{i-1} < D \le d_i`
maps to

.. math::  \log_2 R = \log_2 s_{i-1} + \frac{D - d_{i-1}}{d_i - d_{i-1}}
           (\log_2 s_i - \log_2 s_{i-1}),

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
grids.  On a family's ladder, points :math:`(\log c_i, d_i)` sorted by cost
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

import math
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from neuralpde.evaluation.rows import finite_number, on_model_grid

__all__ = ["FAMILIES", "equivalent_dns", "fair_comparison", "cost_at_duration",
           "duration_at_cost"]

#: Classical families matched by :func:`fair_comparison`: name → predicate on a summary row.
FAMILIES = {
    "dns": lambda row: row.get("kind") == "dns",
    "spectral": lambda row: row.get("kind") == "spectral",
    "weno5-z": lambda row: row.get("kind") == "weno"
    and str(row.get("solver", "")).startswith("weno5-z"),
}


def _size_label(size: float) -> str:
    return f"{size:g}"


def _dns_curve(rows: Sequence[Mapping]) -> tuple[np.ndarray, np.ndarray]:
    """The DNS curve: (log2 sizes, running-max durations); several rows at one size: the
    longest duration."""
    durations: dict[int, float] = {}
    for row in rows:
        if row.get("kind") != "dns":
            continue
        d = finite_number(row.get("duration_of_mean"))
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
        duration = finite_number(row.get("duration_of_mean"))
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
                    for lat, d in [(finite_number(r.get("latency_s_per_time_unit")),
                                    finite_number(r.get("duration_of_mean")))]
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


def _match_families(row: dict, ladders: Mapping) -> None:
    """Add :func:`fair_comparison`'s fields to ``row``, against ``ladders``
    (``{(family, device): (log costs, durations)}``)."""
    latency = finite_number(row.get("latency_s_per_time_unit"))
    duration = finite_number(row.get("duration_of_mean"))
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
        _match_families(row, ladders)
    return rows

