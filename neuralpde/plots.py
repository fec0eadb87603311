"""The one plotting module of neuralpde: figures for the CLI, notebooks and docs.

Every function builds a :class:`matplotlib.figure.Figure` through the object
API (no pyplot state, no ``show``), so it works under any backend — Agg in the
CLI and tests, inline in Jupyter — and returns it.  :func:`save_figure` writes
a PNG atomically and closes the figure.

Figures
-------
* :func:`correlation_figure` — sample-mean vorticity correlation vs time, one
  curve per solver, with the high-correlation threshold.
* :func:`snapshots_figure` — vorticity images, rows = solvers (reference first),
  columns = times, one shared symmetric colour scale.
* :func:`spectra_figure` — isotropic energy spectra, log-log.
* :func:`pareto_figure` — accuracy (high-correlation duration) vs cost
  (latency per simulated time unit).

Colours are assigned by :func:`solver_colours` from the order of the names, so
figures built from the same ordered names use the same colour per solver;
a solver called ``"reference"`` is always black.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

__all__ = [
    "correlation_figure",
    "snapshots_figure",
    "spectra_figure",
    "pareto_figure",
    "save_figure",
    "solver_colours",
]

#: Names treated as the reference solution (drawn black, dashed).
REFERENCE_NAMES = ("reference", "ref")

#: Lowest E(k) shown by :func:`spectra_figure`, relative to the largest.
SPECTRUM_RANGE = 1e-10

#: PNG resolution of :func:`save_figure`.
DPI = 120

_CYCLE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
          "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f")
_KIND_STYLE = {  # pareto: colour and marker per solver kind
    "dns": ("#404040", "o"),
    "weno": ("#ff7f0e", "s"),
    "learned": ("#1f77b4", "D"),
}


def _style(ax, title: str | None = None) -> None:
    """The house style: light grid, no top/right spines, compact ticks."""
    ax.grid(True, which="major", alpha=0.3, linewidth=0.6)
    ax.grid(True, which="minor", alpha=0.12, linewidth=0.4)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.tick_params(labelsize=9)
    ax.xaxis.label.set_size(10)
    ax.yaxis.label.set_size(10)
    if title:
        ax.set_title(title, fontsize=11)


def _is_reference(name: str) -> bool:
    return str(name).lower() in REFERENCE_NAMES


def solver_colours(names: Sequence[str]) -> dict[str, str]:
    """Deterministic colour per name: the reference black, the others in order from a 10-colour cycle."""
    colours, i = {}, 0
    for name in names:
        if _is_reference(name):
            colours[name] = "black"
        else:
            colours[name] = _CYCLE[i % len(_CYCLE)]
            i += 1
    return colours


def _legend(ax, n_entries: int) -> None:
    ax.legend(fontsize=8, frameon=False, ncol=1 if n_entries <= 8 else 2)


def correlation_figure(
    curves: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    threshold: float = 0.8,
) -> Figure:
    """Sample-mean vorticity correlation against time for every solver.

    Parameters
    ----------
    curves : {name: (times, corr_mean)}
        One curve per solver (NaN where a rollout diverged).
    threshold : float
        Drawn as a dashed horizontal line (the high-correlation threshold).
    """
    if not curves:
        raise ValueError("correlation_figure needs at least one curve, got none")
    fig = Figure(figsize=(6.4, 4.0), layout="constrained")
    ax = fig.add_subplot()
    colours = solver_colours(list(curves))
    lowest = 0.0
    for name, (times, corr) in curves.items():
        t = np.asarray(times, dtype=float)
        c = np.asarray(corr, dtype=float)
        if t.shape != c.shape:
            raise ValueError(f"curve {name!r}: times {t.shape} and correlation {c.shape} differ")
        ref = _is_reference(name)
        ax.plot(t, c, color=colours[name], lw=1.6, ls="--" if ref else "-", label=name)
        if np.isfinite(c).any():
            lowest = min(lowest, float(np.nanmin(c)))
    ax.axhline(threshold, color="0.35", lw=1.0, ls=":", label=f"threshold {threshold:g}")
    ax.set_ylim(max(lowest, -1.0) - 0.03, 1.03)
    ax.set_xlabel("time [time units]")
    ax.set_ylabel("vorticity correlation")
    _style(ax, "Vorticity correlation with the reference (sample mean)")
    _legend(ax, len(curves) + 1)
    return fig


def snapshots_figure(
    vorticity: Mapping[str, np.ndarray],
    times: Sequence[float],
    vmax: float | None = None,
    extent: Sequence[float] | None = None,
    cmap: str = "RdBu_r",
) -> Figure:
    """Vorticity snapshots: rows = solvers (in the given order, reference first), columns = times.

    Parameters
    ----------
    vorticity : {name: array (time, x, y)}
        Vorticity of one sample at the frames of ``times`` (same number of
        frames for every solver; NaN frames show blank).
    times : sequence of float
        Column labels (time of each frame, time units).
    vmax : float, optional
        Half-range of the shared symmetric colour scale [-vmax, vmax].  Default:
        max |ω| of the first entry (the reference), so that a diverged solver
        cannot wash out the scale; falls back to all entries.
    extent : (x0, x1, y0, y1), optional
        Axis extent of each image; default: grid indices.
    cmap : str
        Diverging colour map (default RdBu_r).
    """
    if not vorticity:
        raise ValueError("snapshots_figure needs at least one vorticity field, got none")
    times = [float(t) for t in times]
    fields = {}
    for name, w in vorticity.items():
        w = np.asarray(w, dtype=float)
        if w.ndim == 2:
            w = w[None]
        if w.ndim != 3 or w.shape[0] != len(times):
            raise ValueError(f"vorticity[{name!r}] must have shape (time={len(times)}, x, y), got {w.shape}")
        fields[name] = w
    if not times:
        raise ValueError("snapshots_figure needs at least one time, got none")
    if vmax is None:
        for candidates in (list(fields.values())[:1], list(fields.values())):
            finite = np.concatenate([np.abs(w[np.isfinite(w)]) for w in candidates])
            if finite.size and finite.max() > 0:
                vmax = float(finite.max())
                break
        else:
            vmax = 1.0
    n_rows, n_cols = len(fields), len(times)
    panel = 1.9
    fig = Figure(figsize=(panel * n_cols + 1.6, panel * n_rows + 0.6), layout="constrained")
    axes = np.atleast_2d(fig.subplots(n_rows, n_cols, squeeze=False))
    image = None
    for i, (name, w) in enumerate(fields.items()):
        for j, t in enumerate(times):
            ax = axes[i, j]
            image = ax.imshow(w[j].T, origin="lower", cmap=cmap, vmin=-vmax, vmax=vmax,
                              extent=None if extent is None else tuple(extent),
                              interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(f"t = {t:.3g}", fontsize=10)
            if j == 0:
                ax.set_ylabel(name, fontsize=10)
    cbar = fig.colorbar(image, ax=axes, shrink=0.85, pad=0.02)
    cbar.set_label("vorticity ω [1/time unit]", fontsize=10)
    cbar.ax.tick_params(labelsize=8)
    fig.suptitle("Vorticity snapshots (x horizontal, y vertical)", fontsize=11)
    return fig


def spectra_figure(spectra: Mapping[str, tuple[Sequence[float], Sequence[float]]]) -> Figure:
    """Isotropic energy spectra E(k), log-log; k = 0 and non-positive E are skipped.

    Parameters
    ----------
    spectra : {name: (wavenumbers, E)}
        One spectrum per solver; a name ``"reference"`` is drawn black, dashed.
    """
    if not spectra:
        raise ValueError("spectra_figure needs at least one spectrum, got none")
    fig = Figure(figsize=(6.4, 4.0), layout="constrained")
    ax = fig.add_subplot()
    colours = solver_colours(list(spectra))
    top, bottom = 0.0, np.inf
    for name, (k, e) in spectra.items():
        k = np.asarray(k, dtype=float)
        e = np.asarray(e, dtype=float)
        if k.shape != e.shape:
            raise ValueError(f"spectrum {name!r}: wavenumbers {k.shape} and E {e.shape} differ")
        keep = (k > 0) & np.isfinite(e) & (e > 0)
        ref = _is_reference(name)
        ax.loglog(k[keep], e[keep], color=colours[name], lw=1.6 if ref else 1.3,
                  ls="--" if ref else "-", label=name)
        if keep.any():
            top, bottom = max(top, float(e[keep].max())), min(bottom, float(e[keep].min()))
    if top > 0:  # round-off tails (E ~ 1e-30) must not squash the resolved range
        ax.set_ylim(max(bottom, top * SPECTRUM_RANGE) / 2, top * 2)
    ax.set_xlabel("wavenumber k")
    ax.set_ylabel("E(k)")
    _style(ax, "Energy spectrum (mean over samples and frames)")
    _legend(ax, len(spectra))
    return fig


def pareto_figure(rows: Sequence[Mapping]) -> Figure:
    """Accuracy vs cost: high-correlation duration against latency per simulated time unit.

    Parameters
    ----------
    rows : list of dict
        Each with ``solver``, ``kind`` ("dns" | "weno" | "learned" | ...),
        ``duration_of_mean`` and ``latency_s_per_time_unit``; ``size`` orders
        the DNS line.  Rows without a positive latency or finite duration are
        left out.  x is logarithmic; every point is labelled with its solver;
        DNS points are joined by a line.
    """
    points = []
    for row in rows:
        lat, dur = row.get("latency_s_per_time_unit"), row.get("duration_of_mean")
        if lat is None or dur is None:
            continue
        lat, dur = float(lat), float(dur)
        if np.isfinite(lat) and lat > 0 and np.isfinite(dur):
            points.append((str(row.get("kind", "")), int(row.get("size", 0) or 0),
                           str(row.get("solver", "?")), lat, dur))
    if not points:
        raise ValueError("pareto_figure needs at least one row with a positive latency and a "
                         "finite duration_of_mean")
    fig = Figure(figsize=(6.4, 4.4), layout="constrained")
    ax = fig.add_subplot()
    dns = sorted((p for p in points if p[0] == "dns"), key=lambda p: p[1])
    if len(dns) > 1:
        ax.plot([p[3] for p in dns], [p[4] for p in dns], color=_KIND_STYLE["dns"][0],
                lw=1.0, alpha=0.7, zorder=1)
    extra = iter(_CYCLE[4:])
    styles = dict(_KIND_STYLE)
    for kind in dict.fromkeys(p[0] for p in points):  # kinds in first-seen order
        if kind not in styles:
            styles[kind] = (next(extra, "#7f7f7f"), "^")
        colour, marker = styles[kind]
        group = [p for p in points if p[0] == kind]
        ax.scatter([p[3] for p in group], [p[4] for p in group], color=colour, marker=marker,
                   s=36, zorder=3, label=kind.upper() if kind == "dns" else kind)
        for _, _, name, lat, dur in group:
            ax.annotate(name, (lat, dur), xytext=(4, 4), textcoords="offset points", fontsize=8)
    ax.set_xscale("log")
    ax.margins(x=0.15, y=0.12)
    ax.set_xlabel("latency [s per time unit]")
    ax.set_ylabel("high-correlation duration [time units]")
    _style(ax, "Accuracy vs inference cost")
    _legend(ax, len(styles))
    return fig


def save_figure(fig: Figure, path: str | os.PathLike) -> Path:
    """Write ``fig`` as a PNG (dpi 120) to ``path``, creating parent folders; closes the figure.

    The PNG is written to a temporary name and renamed, so no half-written file
    is left behind.  Returns the path.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        fig.savefig(tmp, format="png", dpi=DPI)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
        _close(fig)
    return path


def _close(fig: Figure) -> None:
    """Release a figure: drop it from pyplot if pyplot manages it, then clear it."""
    import sys

    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None:
        pyplot.close(fig)
    fig.clear()
