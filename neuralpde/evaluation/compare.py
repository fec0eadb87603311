"""Compare evaluated solvers: ``neuralpde compare`` writes the table and the figures.

Input is the results folder written by ``neuralpde evaluate``: one sub-folder
per solver, ``<results>/<solver>/`` with ``summary.json``, ``metrics.nc`` and
``trajectory.zarr`` (:mod:`neuralpde.evaluation.results`).  Output
(:func:`compare`): ``comparison.md``, ``comparison.csv`` and
``figures/{correlation,snapshots,spectra,pareto}.png``.

The driver builds on modules of one job each, whose public names are
re-exported here:

* :func:`~neuralpde.evaluation.rows.load_results` — every ``*/summary.json``
  as a list of row dicts (:mod:`neuralpde.evaluation.rows`).
* :func:`~neuralpde.evaluation.ladders.equivalent_dns` — where each solver's
  duration falls on the DNS duration-vs-resolution curve;
  :func:`~neuralpde.evaluation.ladders.fair_comparison` — each row against every
  classical family's ladder: the cost at which the family lasts as long (equal
  accuracy), the duration it reaches at the row's cost (equal cost), the
  speed-up against the best family (:mod:`neuralpde.evaluation.ladders`, where
  the rules are stated).
* :func:`~neuralpde.evaluation.tables.comparison_table` — one row per solver as
  a :class:`pandas.DataFrame`; :func:`~neuralpde.evaluation.tables.to_markdown`
  — a GitHub pipe table (no ``tabulate`` needed) (:mod:`neuralpde.evaluation.tables`).
* :func:`~neuralpde.evaluation.protocol.scored_unlike` — rows scored with other
  settings than the first (:mod:`neuralpde.evaluation.protocol`).
* :mod:`neuralpde.evaluation.figure_inputs` — what the figures show, read from
  the results folders; :mod:`neuralpde.evaluation.plots` draws them.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd
import xarray as xr

from neuralpde.evaluation.figure_inputs import (
    correlation_curves,
    open_metrics,
    snapshot_fields,
    spectrum_curves,
)
from neuralpde.evaluation.ladders import (
    FAMILIES,
    cost_at_duration,
    duration_at_cost,
    equivalent_dns,
    fair_comparison,
)
from neuralpde.evaluation.protocol import PROTOCOL_FIELDS, scored_unlike
from neuralpde.evaluation.results import (
    COMPARISON_CSV,
    COMPARISON_MARKDOWN,
    FIGURES_FOLDER,
)
from neuralpde.evaluation.rows import KIND_ORDER, REQUIRED_KEYS, load_results, on_model_grid
from neuralpde.evaluation.tables import (
    TABLE_COLUMNS,
    comparison_table,
    family_columns,
    format_cell,
    to_markdown,
)
from neuralpde.outputs import write_text_atomic

__all__ = ["load_results", "equivalent_dns", "fair_comparison", "cost_at_duration",
           "duration_at_cost", "comparison_table", "to_markdown", "ComparisonResult", "compare",
           "REQUIRED_KEYS", "KIND_ORDER", "FAMILIES", "TABLE_COLUMNS", "PROTOCOL_FIELDS",
           "FIGURES", "DEFAULT_SNAPSHOT_TIMES", "family_columns", "on_model_grid",
           "scored_unlike"]

#: The figures :func:`compare` draws, in order (``figures/<name>.png``).
FIGURES = ("correlation", "snapshots", "spectra", "pareto")
#: The snapshot times :func:`compare` shows by default (time units).
DEFAULT_SNAPSHOT_TIMES = (0.0, 1.0, 2.0, 4.0)


def _markdown_document(rows: Sequence[Mapping], table: str) -> str:
    """The text of ``comparison.md``: a heading, the legend, ``table`` and the notes (rows
    compared on another view of the reference, scored unlike the first, external)."""
    first = rows[0]
    threshold, horizon = format_cell(first.get("threshold", 0.8)), format_cell(first.get("horizon"))
    lines = [
        "# Solver comparison",
        "",
        f"Preset `{first.get('preset', '?')}`, model grid {first.get('model_size', '?')}², "
        f"{first.get('n_samples', '?')} test samples, reference `{first.get('reference', '?')}`.",
        "",
        f"*duration*: time the sample-mean vorticity correlation stays ≥ {threshold} "
        f"(within {horizon} time units); *duration mean ± std*, *min*, *max*: over samples; "
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


@dataclasses.dataclass(frozen=True)
class ComparisonResult:
    """What :func:`compare` wrote and tabled.

    Attributes:
        markdown: the text of ``comparison.md``.
        markdown_path: ``comparison.md``.
        csv_path: ``comparison.csv``.
        figures: ``{name: path}`` of the figures written (``correlation``,
            ``snapshots``, ``spectra``, ``pareto``; a figure without data is absent).
        table: the comparison table (:func:`comparison_table`).
        rows: the summary rows with the equivalent-DNS and equal-cost fields.
    """

    markdown: str
    markdown_path: Path
    csv_path: Path
    figures: dict
    table: pd.DataFrame
    rows: list


def compare(
    results_dir: str | os.PathLike,
    snapshot_times: Sequence[float] = DEFAULT_SNAPSHOT_TIMES,
    out_dir: str | os.PathLike | None = None,
) -> ComparisonResult:
    """Tabulate and plot every solver of a results folder.

    Writes ``comparison.md``, ``comparison.csv`` and
    ``figures/{correlation,snapshots,spectra,pareto}.png`` into ``out_dir``
    (default ``results_dir``).  Snapshot times snap to the nearest stored
    frame; times outside the stored frames are dropped with a warning.
    Snapshots show sample 0, reference (``summary["reference"]`` of the
    first row) first.  A figure without data (e.g. no ``metrics.nc``
    anywhere, no latency) is skipped with a warning.

    Returns:
      A :class:`ComparisonResult`.

    Raises:
      FileNotFoundError: as :func:`load_results`.
      ValueError: as :func:`load_results`.
    """
    results_dir = Path(results_dir)
    rows = fair_comparison(equivalent_dns(load_results(results_dir)))
    out = Path(out_dir) if out_dir is not None else results_dir
    out.mkdir(parents=True, exist_ok=True)

    table = comparison_table(rows)
    markdown = _markdown_document(rows, to_markdown(table))
    md_path, csv_path = out / COMPARISON_MARKDOWN, out / COMPARISON_CSV
    write_text_atomic(md_path, markdown)
    write_text_atomic(csv_path, table.to_csv(index=False))

    metrics = {}
    for row in rows:
        ds = open_metrics(row)
        if ds is not None:
            metrics[row["solver"]] = ds
    figures = _figures(rows, metrics, results_dir, snapshot_times, out / FIGURES_FOLDER)
    return ComparisonResult(markdown=markdown, markdown_path=md_path, csv_path=csv_path,
                            figures=figures, table=table, rows=rows)


def _figures(rows: Sequence[Mapping], metrics: Mapping[str, xr.Dataset], results_dir: Path,
             snapshot_times: Sequence[float], folder: Path) -> dict[str, Path]:
    """Draw :data:`FIGURES` into ``folder``; ``{name: path}`` of those drawn (a figure
    without data is skipped with a warning)."""
    from neuralpde.evaluation import plots

    threshold = float(rows[0].get("threshold", 0.8))
    figures: dict[str, Path] = {}

    def save(name: str, build) -> None:
        try:
            fig = build()
        except ValueError as error:  # nothing to plot
            warnings.warn(f"figure {name!r} skipped: {error}", stacklevel=4)
            return
        if fig is not None:
            figures[name] = plots.save_figure(fig, folder / f"{name}.png")

    save("correlation",
         lambda: plots.correlation_figure(correlation_curves(rows, metrics), threshold))

    def snapshots():
        snap = snapshot_fields(rows, results_dir, snapshot_times)
        if snap is None:
            raise ValueError("no trajectory or snapshot time to show")
        fields, times, extent = snap
        return plots.snapshots_figure(fields, times, extent=extent)

    save("snapshots", snapshots)
    save("spectra", lambda: plots.spectra_figure(spectrum_curves(rows, metrics)))
    save("pareto", lambda: plots.pareto_figure(rows))
    return figures
