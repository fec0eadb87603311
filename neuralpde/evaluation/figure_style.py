"""The house style of neuralpde's figures: axes style, colours per solver, saving.

Shared by the figure modules (:mod:`neuralpde.evaluation.plots`,
:mod:`neuralpde.evaluation.series_plots`, :mod:`neuralpde.evaluation.animation`).
Colours are assigned by :func:`solver_colours` from the order of the names, so
figures built from the same ordered names use the same colour per solver; a
solver called ``"reference"`` is always black.  :func:`save_figure` writes a
PNG atomically and closes the figure.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from matplotlib.figure import Figure

__all__ = ["REFERENCE_NAMES", "DPI", "CYCLE", "KIND_STYLE", "style_axes", "is_reference",
           "solver_colours", "add_legend", "save_figure", "close_figure"]

#: Names treated as the reference solution (drawn black, dashed).
REFERENCE_NAMES = ("reference", "ref")

#: PNG resolution of :func:`save_figure`.
DPI = 120

#: The colours given to solvers in order (:func:`solver_colours`).
CYCLE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
         "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f")
#: Pareto figure: colour and marker per solver kind.
KIND_STYLE = {
    "dns": ("#404040", "o"),
    "spectral": ("#2ca02c", "v"),
    "weno": ("#ff7f0e", "s"),
    "learned": ("#1f77b4", "D"),
}


def style_axes(ax, title: str | None = None) -> None:
    """Give the matplotlib axes ``ax`` the house style: light grid, no top/right spines,
    compact ticks, and ``title`` (if any) as its title."""
    ax.grid(True, which="major", alpha=0.3, linewidth=0.6)
    ax.grid(True, which="minor", alpha=0.12, linewidth=0.4)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.tick_params(labelsize=9)
    ax.xaxis.label.set_size(10)
    ax.yaxis.label.set_size(10)
    if title:
        ax.set_title(title, fontsize=11)


def is_reference(name: str) -> bool:
    """Whether ``name`` names the reference solution (:data:`REFERENCE_NAMES`, any case)."""
    return str(name).lower() in REFERENCE_NAMES


def solver_colours(names: Sequence[str]) -> dict[str, str]:
    """Deterministic colour per name: the reference black, the others in order from a 10-colour
    cycle."""
    colours, i = {}, 0
    for name in names:
        if is_reference(name):
            colours[name] = "black"
        else:
            colours[name] = CYCLE[i % len(CYCLE)]
            i += 1
    return colours


def add_legend(ax, n_entries: int) -> None:
    """The house legend of ``ax``: small, frameless, two columns past 8 entries."""
    ax.legend(fontsize=8, frameon=False, ncol=1 if n_entries <= 8 else 2)


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
        close_figure(fig)
    return path


def close_figure(fig: Figure) -> None:
    """Release the figure ``fig``: drop it from pyplot if pyplot manages it, then clear it."""
    import sys

    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None:
        pyplot.close(fig)
    fig.clear()
