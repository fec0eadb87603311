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
* :func:`time_series_figure` — quantities against time (kinetic energy,
  enstrophy, divergence, ...), one panel each, a thin line per sample and the
  sample mean.
* :func:`training_curves_figure` — training loss and validation duration
  against the optimiser step, one colour per run.
* :func:`hippo_reconstruction_figure` — a signal's history and what HiPPO
  memories reconstruct of it.
* :func:`vorticity_animation` — a vorticity movie (matplotlib
  ``FuncAnimation``); :func:`save_animation` writes it as a GIF.

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
from matplotlib.ticker import MaxNLocator

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
    "spectral": ("#2ca02c", "v"),
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
    """Deterministic colour per name: the reference black, the others in order from a 10-colour
    cycle."""
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
    if not vorticity:
        raise ValueError("snapshots_figure needs at least one vorticity field, got none")
    times = [float(t) for t in times]
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
    cbar.set_label(label, fontsize=10)
    cbar.ax.tick_params(labelsize=8)
    fig.suptitle(title, fontsize=11)
    return fig


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
        ref = _is_reference(name)
        ax.loglog(k[keep], e[keep], color=colours[name], lw=1.6 if ref else 1.3,
                  ls="--" if ref else "-", label=name)
        if keep.any():
            top, bottom = max(top, float(e[keep].max())), min(bottom, float(e[keep].min()))
    if top > 0:  # round-off tails (E ~ 1e-30) must not squash the resolved range
        ax.set_ylim(max(bottom, top * SPECTRUM_RANGE) / 2, top * 2)
    ax.set_xlabel("wavenumber k [1/length unit]")
    ax.set_ylabel("E(k) [length² / time²]")
    _style(ax, title)
    _legend(ax, len(spectra))
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
                    color=_KIND_STYLE[family][0], lw=1.0, alpha=0.7, zorder=1)
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
    _readable_log_ticks(ax.xaxis, ax.get_xlim())
    ax.set_xlabel("latency [s per time unit]")
    ax.set_ylabel("high-correlation duration [time units]")
    _style(ax, "Accuracy vs inference cost")
    _legend(ax, len(styles))
    return fig


def time_series_figure(
    times: Sequence[float],
    series: Mapping[str, np.ndarray],
    ylabels: Mapping[str, str] | None = None,
    log: bool | Sequence[str] = False,
    title: str | None = None,
    xlabel: str = "time [time units]",
) -> Figure:
    """Quantities against time, one panel per entry, side by side.

    Args:
      times: the common time axis (``time units`` unless ``xlabel`` says otherwise).
      series: ``{panel title: array (sample, time) or (time,)}``; each panel
        draws a thin line per sample and, with several samples, the sample
        mean in black.  NaN (a diverged sample) leaves a gap.
      ylabels: ``{panel title: y label with units}``; default: the panel title.
      log: logarithmic y for every panel (True) or for the named panel titles.
      title: figure title.
      xlabel: x label of every panel.
    """
    if not series:
        raise ValueError("time_series_figure needs at least one series, got none")
    t = np.asarray(times, dtype=float)
    ylabels = dict(ylabels or {})
    logs = set(series) if log is True else set(log or ())
    unknown = sorted((set(ylabels) | logs) - set(series))
    if unknown:
        raise ValueError(f"ylabels/log name panels {unknown} that are not in series {list(series)}")
    n = len(series)
    fig = Figure(figsize=(min(4.2 * n, 13.0), 3.6), layout="constrained")
    axes = fig.subplots(1, n, squeeze=False)[0]
    for ax, (name, values) in zip(axes, series.items()):
        y = np.asarray(values, dtype=float)
        if y.ndim == 1:
            y = y[None]
        if y.ndim != 2 or y.shape[1] != t.size:
            raise ValueError(f"series[{name!r}] must have shape (time={t.size},) or "
                             f"(sample, time={t.size}), got {np.shape(values)}")
        several = y.shape[0] > 1
        for i, row in enumerate(y):
            ax.plot(t, row, lw=0.9 if several else 1.6, alpha=0.55 if several else 1.0,
                    color=_CYCLE[i % len(_CYCLE)], label=f"sample {i}" if several else None)
        if several:
            ax.plot(t, np.mean(y, axis=0), color="black", lw=1.8, label="sample mean")
            _legend(ax, y.shape[0] + 1)
        if name in logs:
            ax.set_yscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabels.get(name, name))
        _style(ax, name)
    if title:
        fig.suptitle(title, fontsize=11)
    return fig


def training_curves_figure(runs: Mapping[str, Sequence[Mapping]]) -> Figure:
    """Training loss and validation duration against the optimiser step.

    Args:
      runs: ``{run name: metrics records}``, the lines of each run's
        ``metrics.jsonl`` (:func:`neuralpde.training.runs.read_metrics`):
        records with ``loss`` are drawn in the left panel (log y), records
        with ``validation_duration`` as markers in the right panel (left out
        when no run validated).
    """
    if not runs:
        raise ValueError("training_curves_figure needs at least one run, got none")
    colours = solver_colours(list(runs))
    validated = any("validation_duration" in r for records in runs.values() for r in records)
    fig = Figure(figsize=(10.4 if validated else 6.4, 3.8), layout="constrained")
    axes = fig.subplots(1, 2 if validated else 1, squeeze=False, sharex=True)[0]
    for name, records in runs.items():
        loss = [(r["step"], r["loss"]) for r in records if "loss" in r]
        if loss:
            steps, values = np.asarray(loss, dtype=float).T
            axes[0].plot(steps, values, color=colours[name], lw=1.4,
                         marker="." if len(steps) < 30 else None, label=name)
        if validated:
            val = [(r["step"], r["validation_duration"]) for r in records
                   if "validation_duration" in r]
            if val:
                steps, values = np.asarray(val, dtype=float).T
                axes[1].plot(steps, values, color=colours[name], lw=1.0, marker="o", ms=5,
                             label=name)
    axes[0].set_yscale("log")
    axes[0].set_xlabel("optimiser step")
    axes[0].set_ylabel("loss [length²/time²]")
    axes[0].xaxis.set_major_locator(MaxNLocator(integer=True))
    _style(axes[0], "Training loss (mean squared velocity error)")
    _legend(axes[0], len(runs))
    if validated:
        axes[1].set_xlabel("optimiser step")
        axes[1].set_ylabel("validation duration [time units]")
        _style(axes[1], "High-correlation duration (validation)")
        _legend(axes[1], len(runs))
    return fig


def hippo_reconstruction_figure(
    times: Sequence[float],
    signal: Sequence[float],
    reconstructions: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    window: tuple[float, float] | None = None,
    xlabel: str = "time [model steps]",
    ylabel: str = "u [length units / time units]",
    title: str = "What a HiPPO memory remembers of one cell's history",
) -> Figure:
    """A signal (black, dots) and the reconstructions of memories that encoded it.

    Args:
      times: the times of the input history.
      signal: the input history (e.g. one cell's u, one sample per model step).
      reconstructions: ``{label: (times, values)}``, what each memory
        reconstructs (``HiPPO.reconstruct`` / ``reconstruct_lag``), on its own
        time axis.
      window: ``(start, end)``, shaded: the frames that were encoded.
      xlabel: x-axis label (with units).
      ylabel: y-axis label (with units).
      title: axes title.
    """
    if not reconstructions:
        raise ValueError("hippo_reconstruction_figure needs at least one reconstruction, got none")
    t = np.asarray(times, dtype=float)
    y = np.asarray(signal, dtype=float)
    if t.shape != y.shape:
        raise ValueError(f"times {t.shape} and signal {y.shape} differ")
    fig = Figure(figsize=(7.2, 4.0), layout="constrained")
    ax = fig.add_subplot()
    if window is not None:
        ax.axvspan(window[0], window[1], color="0.9", zorder=0, label="encoded frames")
    ax.plot(t, y, color="black", lw=1.0, marker=".", ms=5, label="input", zorder=3)
    colours = solver_colours(list(reconstructions))
    for name, (rt, rv) in reconstructions.items():
        rt, rv = np.asarray(rt, dtype=float), np.asarray(rv, dtype=float)
        if rt.shape != rv.shape:
            raise ValueError(f"reconstruction {name!r}: times {rt.shape} and values {rv.shape} "
                             "differ")
        ax.plot(rt, rv, color=colours[name], lw=1.6, label=name, zorder=2)
    finite = y[np.isfinite(y)]
    if finite.size:  # a badly reconstructed tail must not squash the signal
        low, high = float(finite.min()), float(finite.max())
        pad = 0.35 * max(high - low, 1e-12)
        ax.set_ylim(low - pad, high + pad)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    _style(ax, title)
    _legend(ax, len(reconstructions) + 2)
    return fig


def vorticity_animation(
    vorticity: np.ndarray,
    times: Sequence[float],
    vmax: float | None = None,
    extent: Sequence[float] | None = None,
    cmap: str = "RdBu_r",
    title: str = "Vorticity",
    label: str = "vorticity ω [1/time unit]",
    interval: int = 120,
):
    """A movie of one vorticity field over time (``matplotlib.animation.FuncAnimation``).

    Args:
      vorticity: the frames, ``(time, x, y)``.
      times: time of each frame (time units), shown in the title.
      vmax: half-range of the fixed symmetric colour scale; default max |ω|.
      extent: ``(x0, x1, y0, y1)``, axis extent (length units); default grid indices.
      cmap: colour map.
      title: title prefix.
      label: colour-bar label.
      interval: milliseconds per frame when played.

    Save it with :func:`save_animation` (GIF) or show it in Jupyter with
    ``IPython.display.HTML(animation.to_jshtml())``.
    """
    from matplotlib.animation import FuncAnimation

    w = np.asarray(vorticity, dtype=float)
    times = [float(t) for t in times]
    if w.ndim != 3 or w.shape[0] != len(times) or not times:
        raise ValueError(f"vorticity must have shape (time={len(times)}, x, y) with at least one "
                         f"frame, got {w.shape}")
    if vmax is None:
        finite = np.abs(w[np.isfinite(w)])
        vmax = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
    fig = Figure(figsize=(4.6, 3.9), layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(w[0].T, origin="lower", cmap=cmap, vmin=-vmax, vmax=vmax,
                      extent=None if extent is None else tuple(extent), interpolation="nearest")
    unit = "length units" if extent is not None else "cells"
    ax.set_xlabel(f"x [{unit}]")
    ax.set_ylabel(f"y [{unit}]")
    ax.tick_params(labelsize=8)
    heading = ax.set_title(f"{title}, t = {times[0]:.3g}", fontsize=10)
    cbar = fig.colorbar(image, ax=ax, shrink=0.9, pad=0.02)
    cbar.set_label(label, fontsize=9)
    cbar.ax.tick_params(labelsize=8)

    def update(i):
        image.set_data(w[i].T)
        heading.set_text(f"{title}, t = {times[i]:.3g}")
        return image, heading

    return FuncAnimation(fig, update, frames=len(times), interval=interval, blit=False)


def save_animation(animation, path: str | os.PathLike, fps: int = 8, dpi: int = 80) -> Path | None:
    """Write an animation as a GIF with matplotlib's ``PillowWriter``; closes its figure.

    A GIF stores every frame whole: keep movies to tens of frames (subsample
    the time axis) and ``dpi`` modest.

    Returns the path, or None (nothing written) when pillow is not installed.
    Written under a temporary name and renamed, so no half-written file remains.
    """
    import importlib.util

    fig = getattr(animation, "_fig", None)  # FuncAnimation keeps its figure there
    if importlib.util.find_spec("PIL") is None:
        if fig is not None:
            _close(fig)
        return None
    from matplotlib.animation import PillowWriter

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".tmp" + path.suffix)  # pillow picks the format by suffix
    try:
        animation.save(tmp, writer=PillowWriter(fps=fps), dpi=dpi)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
        if fig is not None:
            _close(fig)
    return path


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
