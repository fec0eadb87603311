"""``neuralpde quickstart``: the whole study in minutes on a laptop CPU, as a demonstration.

Stages (each reuses what a previous run left in the output folder):

1. **generate** the ``quickstart`` data set (:func:`neuralpde.store.presets.get_preset`):
   Kolmogorov flow on a 128² DNS, downsampled to 32²; 2 training trajectories
   of 6 time units, 4 test trajectories of 6 time units with the 32-frame
   history TSM encodes;
2. **baselines**: DNS at 32² and 64² and WENO5-Z at 32², rolled out on the
   test set and scored;
3. **train** learned interpolation (LI) and TSM-HiPPO with the ``quickstart``
   training preset (3 × 16 tower, 120 updates), then evaluate them the same way;
4. **pretrained**: the weights shipped with the package
   (:mod:`neuralpde.training.pretrained`: LI, TSM-HiPPO and TSM-CNN trained on
   the ``mini`` data with the ``mini`` training preset; their model cards say
   how) evaluated on the same test set, as the rows
   ``pretrained-li-mini``, ``pretrained-tsm-hippo-mini`` and
   ``pretrained-tsm-cnn-mini``: what the methods do at a real training budget.
   Skipped, with a line saying why, when the data set has another flow or model
   grid than the weights;
5. **compare**: the table (``comparison.md``/``.csv``) and the four figures in
   ``<out>/results/``; the table is printed.

The budgets are a demonstration of the pipeline, not converged results:
``experiments/`` holds the studies whose numbers the docs quote.  Output
layout: ``<out>/data/{train,validation,test}.zarr``, ``<out>/runs/<model>/``,
``<out>/results/<solver>/`` and ``<out>/results/{comparison.md,figures/}``,
``<out>/quickstart.json`` (stage timings).
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from neuralpde.config import ConfigError
from neuralpde.solvers.names import PRETRAINED_PREFIX, run_name
from neuralpde.store.presets import Preset, get_preset
from neuralpde.training.config import TrainConfig, get_train_preset, with_model_kind

BASELINES = ("dns", "dns-64", "weno5-z")
MODELS = ("li", "tsm-hippo")
PRETRAINED = ("li-mini", "tsm-hippo-mini", "tsm-cnn-mini")
BANNER = ("DEMONSTRATION: the rows {models} were trained here at quickstart budgets "
          "({n_train} training trajectories of {duration:g} time units, {steps} updates of a "
          "{depth} x {hidden} tower): they show the pipeline, not converged results.")
PRETRAINED_BANNER = (" The rows pretrained-* are the weights shipped with the package (the best "
                     "checkpoints of {steps:,}-update runs of a {depth} x {hidden} tower through "
                     "{unroll} unrolled steps on the {preset} data: {trajectories} trajectories, "
                     "{reference} {fine}² reference; `neuralpde pretrained` prints their cards), "
                     "evaluated on this test set.")
BANNER_END = " See experiments/README.md for the mini study."


@dataclasses.dataclass(frozen=True)
class QuickstartResult:
    """What :func:`run_quickstart` returns.

    Attributes:
        comparison: the comparison of every row
            (:class:`~neuralpde.evaluation.compare.ComparisonResult`).
        timings: wall-clock seconds of each stage.
        banner: the demonstration notice printed under the table.
    """

    comparison: Any
    timings: dict
    banner: str


def run_quickstart(
    out="quickstart",
    preset: Preset | None = None,
    train_config: TrainConfig | None = None,
    baselines: Sequence[str] = BASELINES,
    models: Sequence[str] = MODELS,
    pretrained: Sequence[str] = PRETRAINED,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> QuickstartResult:
    """Run (or finish) the quickstart study in ``out``.

    ``preset`` and ``train_config`` default to the ``quickstart`` presets
    (tests pass tiny ones); each of ``models`` (the learned kinds ``neuralpde
    train`` trains) trains ``train_config`` turned into its kind
    (:func:`~neuralpde.training.config.with_model_kind`: the fields only that
    kind has from the ``quickstart`` preset); ``pretrained`` names shipped weights
    (:func:`neuralpde.training.pretrained.available`).  Evaluations whose ``summary.json``
    exists (and is newer than the run's last metrics, for a learned solver) are reused.

    Raises:
        ConfigError: an unknown model or pretrained name, or a file where a
            stage writes its folder (checked before any work).
    """
    from neuralpde.evaluation.compare import compare
    from neuralpde.store.generate import generate

    preset = preset or get_preset("quickstart")
    base = train_config or get_train_preset("quickstart")
    out = Path(out)
    data, results = out / "data", out / "results"
    _check_quickstart(out, models, pretrained)
    n_stages = 2 + len(models) + (1 if pretrained else 0) + 1
    timings: dict[str, float] = {}

    def stage(index: int, label: str):
        log(f"[{index}/{n_stages}] {label}")
        return time.perf_counter()

    start = stage(1, f"generate {preset.model_size}² ← {preset.fine_size}² DNS data in {data}")
    generate(preset, data, progress=progress)
    timings["generate"] = time.perf_counter() - start
    start = stage(2, f"baselines {', '.join(baselines)}")
    _baselines(baselines, preset, data, results, log)
    timings["baselines"] = time.perf_counter() - start
    for i, model in enumerate(models):
        config = with_model_kind(base, model, "quickstart")
        start = stage(3 + i, f"train and evaluate {model} ({config.steps} updates, batch "
                             f"{config.batch_size}, unroll {config.unroll})")
        _train_and_evaluate(config, out / "runs" / model, data, results, progress, log)
        timings[model] = time.perf_counter() - start
    reasons: dict = {}
    if pretrained:
        start = stage(n_stages - 1, f"pretrained weights {', '.join(pretrained)} (trained on the "
                                    "mini data) on this test set")
        reasons = _pretrained(pretrained, data, results, log)
        timings["pretrained"] = time.perf_counter() - start
    start = stage(n_stages, f"compare -> {results}")
    result = compare(results, snapshot_times=(0.0, 1.0, 2.0, 4.0))
    timings["compare"] = time.perf_counter() - start
    (out / "quickstart.json").write_text(json.dumps(
        {"timings_s": timings, "preset": preset.name, "train_steps": base.steps}, indent=2) + "\n")
    banner = BANNER.format(models=" and ".join(models) or "(none)", n_train=preset.train.n_samples,
                           duration=preset.train.duration, steps=base.steps,
                           depth=base.model.depth, hidden=base.model.hidden)
    shown = [name for name in pretrained if not reasons[name]]
    if shown:
        banner += _pretrained_banner(shown[0])
    return QuickstartResult(comparison=result, timings=timings, banner=banner + BANNER_END)


def _pretrained_banner(name: str) -> str:
    """:data:`PRETRAINED_BANNER` with the recipe and data of the shipped weights ``name``
    (read from its model card)."""
    from neuralpde.training.pretrained import weights_card

    card, _ = weights_card(name)
    recipe, data = card["recipe"], card["data"] or {}
    return PRETRAINED_BANNER.format(
        steps=recipe["steps"], depth=recipe["model"]["depth"], hidden=recipe["model"]["hidden"],
        unroll=recipe["unroll"], preset=data.get("preset", "mini"),
        trajectories=data.get("train_trajectories", "?"),
        reference={"spectral": "pseudo-spectral"}.get(data.get("reference_solver"), "DNS"),
        fine=data.get("fine_size", "?"))


def _check_quickstart(out: Path, models: Sequence[str], pretrained: Sequence[str]) -> None:
    """Refuse unknown models and weights, and files where the quickstart writes folders."""
    from neuralpde.training.kinds import trained_by
    from neuralpde.training.pretrained import weights_path

    unknown = sorted(set(models) - set(trained_by("train")))
    if unknown:
        raise ConfigError(f"unknown quickstart model(s) {unknown}: accepted "
                          f"{', '.join(trained_by('train'))}")
    folders = [out / "data", out / "runs", *(out / "runs" / model for model in models),
               out / "results"]
    for folder in folders:  # before any work: a file where a stage writes its folder
        if folder.exists() and not folder.is_dir():
            raise ConfigError(f"{folder} is an existing file where the quickstart writes its "
                              f"folder {folder.name}/: nothing was changed; move it away or pass "
                              "another --out")
    if (out / "quickstart.json").is_dir():
        raise ConfigError(f"{out / 'quickstart.json'} is a folder where the quickstart writes its "
                          "timings file: nothing was changed; move it away or pass another --out")
    for name in pretrained:
        weights_path(name)  # an unknown name fails before any work


def _evaluated(names, data: Path, results: Path, log) -> None:
    """Evaluate ``names`` on ``data`` into ``results``, one log line per solver."""
    from neuralpde.registry import evaluate

    for row in evaluate(names, data, results):
        log(f"    {row['solver']}: duration {row['duration_of_mean']:.3f} time units")


def _baselines(baselines, preset: Preset, data: Path, results: Path, log) -> None:
    """The classical baselines whose results are not current."""
    from neuralpde.evaluation.evaluate import summary_is_current
    from neuralpde.solvers.classical import classical_solver

    todo = [name for name in baselines if not summary_is_current(
        results / classical_solver(name, preset.flow, preset.model_size).name,
        reference=data / "test.zarr")]
    if todo:
        _evaluated(todo, data, results, log)


def _train_and_evaluate(config: TrainConfig, run: Path, data: Path, results: Path,
                        progress: bool, log) -> None:
    """Train (or finish) one learned model, then evaluate it unless its results are current."""
    from neuralpde.evaluation.evaluate import summary_is_current
    from neuralpde.training.loop import train
    from neuralpde.training.run_folder import RunFolder

    summary = train(config, run, data_dir=data, progress=progress)
    if summary.loss == summary.loss:  # nan when the run was already finished
        log(f"    training loss {summary.loss:.3g}")
    if not summary_is_current(results / run.name, newer_than=RunFolder(run).metrics,
                              reference=data / "test.zarr"):
        _evaluated([run_name(run)], data, results, log)


def _pretrained(pretrained, data: Path, results: Path, log) -> dict:
    """Evaluate the shipped weights that fit this test set; returns ``{name: reason}`` (why
    a name was skipped, empty when it was not)."""
    from neuralpde.evaluation.evaluate import summary_is_current
    from neuralpde.store.reading import open_store
    from neuralpde.training.pretrained import check_fits, pretrained_name, weights_path

    with open_store(data / "test.zarr", split="test") as test:
        reasons = {name: check_fits(name, test) for name in pretrained}
    for name in pretrained:
        if reasons[name]:
            log(f"    {name} skipped: {reasons[name]}")
        elif not summary_is_current(results / pretrained_name(name),
                                    newer_than=weights_path(name),
                                    reference=data / "test.zarr"):
            _evaluated([PRETRAINED_PREFIX + name], data, results, log)
    return reasons


__all__ = ["QuickstartResult", "run_quickstart", "BASELINES", "MODELS", "PRETRAINED"]
