"""Vorticity movies: :func:`vorticity_animation` builds one (matplotlib ``FuncAnimation``),
:func:`save_animation` writes it as a GIF.  Both are re-exported by
:mod:`neuralpde.evaluation.plots`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from neuralpde.evaluation.figure_style import close_figure

__all__ = ["vorticity_animation", "save_animation"]


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
            close_figure(fig)
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
            close_figure(fig)
    return path
