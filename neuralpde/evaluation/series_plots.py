"""Figures of quantities against time or optimiser step (matplotlib, object API).

* :func:`time_series_figure` — quantities against time (kinetic energy,
  enstrophy, divergence, ...), one panel each, a thin line per sample and the
  sample mean.
* :func:`training_curves_figure` — training loss and validation duration
  against the optimiser step, one colour per run.
* :func:`hippo_reconstruction_figure` — a signal's history and what HiPPO
  memories reconstruct of it.

Each returns a :class:`matplotlib.figure.Figure` in the house style
(:mod:`neuralpde.evaluation.figure_style`); all are re-exported by
:mod:`neuralpde.evaluation.plots`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from neuralpde.evaluation.figure_style import CYCLE, add_legend, solver_colours, style_axes

__all__ = ["time_series_figure", "training_curves_figure", "hippo_reconstruction_figure"]


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
                    color=CYCLE[i % len(CYCLE)], label=f"sample {i}" if several else None)
        if several:
            ax.plot(t, np.mean(y, axis=0), color="black", lw=1.8, label="sample mean")
            add_legend(ax, y.shape[0] + 1)
        if name in logs:
            ax.set_yscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabels.get(name, name))
        style_axes(ax, name)
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
    style_axes(axes[0], "Training loss (mean squared velocity error)")
    add_legend(axes[0], len(runs))
    if validated:
        axes[1].set_xlabel("optimiser step")
        axes[1].set_ylabel("validation duration [time units]")
        style_axes(axes[1], "High-correlation duration (validation)")
        add_legend(axes[1], len(runs))
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
    style_axes(ax, title)
    add_legend(ax, len(reconstructions) + 2)
    return fig
