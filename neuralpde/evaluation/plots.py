"""The plotting entry point of neuralpde: figures for the CLI, notebooks and docs.

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
* :func:`time_series_figure` — quantities against time (kinetic energy,
  enstrophy, divergence, ...), one panel each, a thin line per sample and the
  sample mean.
* :func:`training_curves_figure` — training loss and validation duration
  against the optimiser step, one colour per run.
* :func:`hippo_reconstruction_figure` — a signal's history and what HiPPO
  memories reconstruct of it.
* :func:`vorticity_animation` — a vorticity movie (matplotlib
  ``FuncAnimation``); :func:`save_animation` writes it as a GIF.

The comparison figures (correlation, snapshots, spectra, Pareto) are defined
here; the figures against time or optimiser step are
:mod:`neuralpde.evaluation.series_plots`', the movies
:mod:`neuralpde.evaluation.animation`'s, and the house style (colours, axes,
saving) :mod:`neuralpde.evaluation.figure_style`'s, all re-exported here.
Colours are assigned by :func:`solver_colours` from the order of the names, so
figures built from the same ordered names use the same colour per solver;
a solver called ``"reference"`` is always black.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from neuralpde.evaluation.animation import save_animation, vorticity_animation
from neuralpde.evaluation.figure_style import (
    CYCLE,
    KIND_STYLE,
    add_legend,
    is_reference,
    save_figure,
    solver_colours,
    style_axes,
)
from neuralpde.evaluation.series_plots import (
    hippo_reconstruction_figure,
    time_series_figure,
    training_curves_figure,
)

__all__ = [
    "correlation_figure",
    "snapshots_figure",
    "spectra_figure",
    "pareto_figure",
    "time_series_figure",
    "training_curves_figure",
    "hippo_reconstruction_figure",
    "vorticity_animation",
    "save_figure",
    "save_animation",
    "solver_colours",
]

#: Lowest E(k) shown by :func:`spectra_figure`, relative to the largest.
SPECTRUM_RANGE = 1e-10


def correlation_figure(
    curves: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    threshold: float = 0.8,
) -> Figure:
    """Sample-mean vorticity correlation against time for every solver.

    Args:
      curves: ``{name: (times, corr_mean)}``, one curve per solver (NaN where a
        rollout diverged).
      threshold: drawn as a dashed horizontal line (the high-correlation threshold).
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
        ref = is_reference(name)
        ax.plot(t, c, color=colours[name], lw=1.6, ls="--" if ref else "-", label=name)
        if np.isfinite(c).any():
            lowest = min(lowest, float(np.nanmin(c)))
    ax.axhline(threshold, color="0.35", lw=1.0, ls=":", label=f"threshold {threshold:g}")
    ax.set_ylim(max(lowest, -1.0) - 0.03, 1.03)
    ax.set_xlabel("time [time units]")
    ax.set_ylabel("vorticity correlation")
    style_axes(ax, "Vorticity correlation with the reference (sample mean)")
    add_legend(ax, len(curves) + 1)
    return fig


def snapshots_figure(
    vorticity: Mapping[str, np.ndarray],
    times: Sequence[float],
    vmax: float | None = None,
    extent: Sequence[float] | None = None,
    cmap: str = "RdBu_r",
    label: str = "vorticity ω [1/time unit]",
    title: str = "Vorticity snapshots (x horizontal, y vertical)",
) -> Figure:
    """Vorticity snapshots: rows = solvers (in the given order, reference first), columns = times.

    Args:
      vorticity: ``{name: array (time, x, y)}``, the vorticity of one sample at
        the frames of ``times`` (same number of frames for every solver; NaN
        frames show blank).
      times: column labels (time of each frame, time units).
      vmax: half-range of the shared symmetric colour scale [-vmax, vmax].
        Default: max |ω| of the first entry (the reference), so that a
        diverged solver cannot wash out the scale; falls back to all entries.
      extent: ``(x0, x1, y0, y1)``, axis extent of each image; default: grid indices.
      cmap: diverging colour map (default RdBu_r).
      label: colour-bar label (with units); change it (and ``title``) to show
        another scalar field (divergence, a velocity component, ...).
      title: figure title.
    """
    times = [float(t) for t in times]
    fields = _snapshot_fields(vorticity, times)
    if vmax is None:
        vmax = _symmetric_range(list(fields.values()))
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
    cbar.set_label(label, fontsize=10)
    cbar.ax.tick_params(labelsize=8)
    fig.suptitle(title, fontsize=11)
    return fig


def _snapshot_fields(vorticity: Mapping[str, np.ndarray], times: list[float]) -> dict:
    """``vorticity`` as float arrays (time, x, y), checked against ``times``."""
    if not vorticity:
        raise ValueError("snapshots_figure needs at least one vorticity field, got none")
    fields = {}
    for name, w in vorticity.items():
        w = np.asarray(w, dtype=float)
        if w.ndim == 2:
            w = w[None]
        if w.ndim != 3 or w.shape[0] != len(times):
            raise ValueError(f"vorticity[{name!r}] must have shape (time={len(times)}, x, y), "
                             f"got {w.shape}")
        fields[name] = w
    if not times:
        raise ValueError("snapshots_figure needs at least one time, got none")
    return fields


def _symmetric_range(fields: list[np.ndarray]) -> float:
    """The largest |ω| of the first field (the reference), else of all fields, else 1."""
    for candidates in (fields[:1], fields):
        finite = np.concatenate([np.abs(w[np.isfinite(w)]) for w in candidates])
        if finite.size and finite.max() > 0:
            return float(finite.max())
    return 1.0


def spectra_figure(
    spectra: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    title: str = "Energy spectrum (mean over samples and frames)",
) -> Figure:
    """Isotropic energy spectra E(k), log-log; k = 0 and non-positive E are skipped.

    Args:
      spectra: ``{name: (wavenumbers, E)}``, one spectrum per solver (or per
        time); a name ``"reference"`` is drawn black, dashed.
      title: axes title (say what the curves are averaged over).
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
        ref = is_reference(name)
        ax.loglog(k[keep], e[keep], color=colours[name], lw=1.6 if ref else 1.3,
                  ls="--" if ref else "-", label=name)
        if keep.any():
            top, bottom = max(top, float(e[keep].max())), min(bottom, float(e[keep].min()))
    if top > 0:  # round-off tails (E ~ 1e-30) must not squash the resolved range
        ax.set_ylim(max(bottom, top * SPECTRUM_RANGE) / 2, top * 2)
    ax.set_xlabel("wavenumber k [1/length unit]")
    ax.set_ylabel("E(k) [length² / time²]")
    style_axes(ax, title)
    add_legend(ax, len(spectra))
    return fig


def _readable_log_ticks(axis, limits) -> None:
    """Tick labels of a log axis that never overlap: over less than a decade, matplotlib
    labels every minor tick (1.3e-3, 1.4e-3, ...) and they collide; there a few evenly
    spaced labelled ticks (3 significant digits) are used instead."""
    from matplotlib.ticker import FormatStrFormatter, MaxNLocator, NullFormatter

    low, high = (float(v) for v in limits)
    if low > 0 and high / low < 10:
        axis.set_major_locator(MaxNLocator(nbins=4))
        axis.set_major_formatter(FormatStrFormatter("%.3g"))
        axis.set_minor_formatter(NullFormatter())


def pareto_figure(rows: Sequence[Mapping]) -> Figure:
    """Accuracy vs cost: high-correlation duration against latency per simulated time unit.

    Args:
      rows: dicts, each with ``solver``, ``kind`` ("dns" | "weno" | "learned" | ...),
        ``duration_of_mean`` and ``latency_s_per_time_unit``; ``size`` orders
        the DNS line.  Rows without a positive latency or finite duration are
        left out.  x is logarithmic; every point is labelled with its solver;
        the points of each classical family with a resolution ladder (DNS,
        pseudo-spectral, WENO) are joined by a line, in order of grid size.
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
    for family in ("dns", "spectral", "weno"):
        ladder = sorted((p for p in points if p[0] == family), key=lambda p: p[1])
        if len(ladder) > 1:
            ax.plot([p[3] for p in ladder], [p[4] for p in ladder],
                    color=KIND_STYLE[family][0], lw=1.0, alpha=0.7, zorder=1)
    extra = iter(CYCLE[4:])
    styles = dict(KIND_STYLE)
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
    _readable_log_ticks(ax.xaxis, ax.get_xlim())
    ax.set_xlabel("latency [s per time unit]")
    ax.set_ylabel("high-correlation duration [time units]")
    style_axes(ax, "Accuracy vs inference cost")
    add_legend(ax, len(styles))
    return fig

