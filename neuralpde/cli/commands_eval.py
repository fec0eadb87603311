"""The evaluating commands: ``neuralpde evaluate``, ``neuralpde compare``,
``neuralpde stagger-evaluate``, ``neuralpde quickstart`` and ``neuralpde pretrained``."""

from __future__ import annotations

from neuralpde.cli.options import HelpFormatter
from neuralpde.config import ConfigError, printable


def add_evaluate(subparsers) -> None:
    """Add ``neuralpde evaluate`` to ``subparsers``."""
    p = subparsers.add_parser(
        "evaluate", help="roll solvers out on the test set and score them",
        description="Roll each solver out from the test store's initial states, compare with the "
                    "reference on the model grid and write OUT/<solver>/{summary.json, metrics.nc, "
                    "trajectory.zarr}.",
        formatter_class=HelpFormatter)
    p.add_argument("--data", required=True, help="data folder holding test.zarr")
    p.add_argument("--solver", action="append", required=True,
                   help="solver to evaluate (repeatable): dns, dns-N, weno5-js[-N], weno5-z[-N] (N "
                        "a multiple of the model grid), spectral[-N] (pseudo-spectral, N even, >= "
                        "8, up to the reference grid), run:<training run folder> (LI, TSM, "
                        "staggered), run:<staggered run folder>#coarse[=a,b] (one sub-solver "
                        "alone, against the same sub-field of the reference), pretrained:<name> "
                        "(weights shipped with the package: `neuralpde pretrained` lists them) or "
                        "pretrained:<weights .npz>, or file:<zarr or .nc> (a rollout produced "
                        "elsewhere: u, v or vorticity over sample, time, x, y on the model grid; "
                        "docs/solvers.md)")
    p.add_argument("--out", required=True, help="results folder")
    _add_scoring_options(p)
    p.add_argument("--threshold", type=float, default=0.8,
                   help="high-correlation threshold, in (0, 1)")
    p.add_argument("--preset", help="refuse a test store made for another preset")
    p.add_argument("--transfer", action="store_true",
                   help="run trained models (run:<folder>) on the store's flow and grid even if "
                        "they were trained on another (generalisation tests)")
    p.set_defaults(handler=_run_evaluate)


def _add_scoring_options(p) -> None:
    """The rollout options every evaluating command shares (neuralpde.evaluation.scoring)."""
    p.add_argument("--horizon", type=float,
                   help="time units to roll out (default: the whole test span)")
    p.add_argument("--samples", type=int, help="test trajectories to use (default: all)")


def _run_evaluate(args) -> int:
    """Score solvers on the test store (``neuralpde evaluate``); returns 0."""
    from neuralpde.registry import evaluate

    rows = evaluate(args.solver, args.data, args.out, horizon=args.horizon,
                    threshold=args.threshold, n_samples=args.samples, preset=args.preset,
                    transfer=args.transfer)
    _print_rows(rows, args.out)
    return 0


def _print_rows(rows, out) -> None:
    """The summary rows of an evaluation (process 0 alone prints in a multi-process job)."""
    from neuralpde.sharding import is_writer

    if not is_writer():
        return
    for row in rows:
        diverged = f", {row['diverged_samples']} diverged" if row["diverged_samples"] else ""
        where = "" if row["compared_on"] == "model grid" else f" [{row['compared_on']}]"
        latency = row["latency_s_per_time_unit"]
        cost = ("no latency" if latency is None else
                f"latency {latency:.3g} s/time unit on {row['device'] or 'an unnamed device'}")
        skipped = (f"; skipped (need the velocity): {', '.join(row['skipped_metrics'])}"
                   if row.get("skipped_metrics") else "")
        print(f"{row['solver']:>16}: duration {row['duration_of_mean']:.3f} "
              f"(per sample {row['duration_mean']:.3f} ± {row['duration_std']:.3f}), "
              f"{cost}{diverged}{where}{skipped}")
    print(f"results: {printable(str(out))}")


def add_compare(subparsers) -> None:
    """Add ``neuralpde compare`` to ``subparsers``."""
    p = subparsers.add_parser(
        "compare", help="gather evaluated solvers into one table and four figures",
        description="Read RESULTS/*/summary.json and write RESULTS/comparison.{md,csv} and "
                    "RESULTS/figures/{correlation,snapshots,spectra,pareto}.png; print the table.",
        formatter_class=HelpFormatter)
    p.add_argument("--results", required=True,
                   help="results folder written by `neuralpde evaluate`")
    p.add_argument("--times", type=float, nargs="+", default=[0.0, 1.0, 2.0, 4.0],
                   help="times of the vorticity snapshots")
    p.add_argument("--out", help="where to write the table and figures (default: RESULTS)")
    p.set_defaults(handler=_run_compare)


def _run_compare(args) -> int:
    """Table and plot evaluated solvers (``neuralpde compare``); returns 0."""
    import math

    from neuralpde.evaluation.compare import compare

    bad = [t for t in args.times if not (math.isfinite(t) and t >= 0)]
    if bad:
        raise ConfigError(f"invalid --times {bad}: accepted finite times >= 0 (time units from "
                          "the initial frame)")
    try:
        result = compare(args.results, snapshot_times=tuple(args.times), out_dir=args.out)
    except (FileNotFoundError, ValueError) as error:
        raise ConfigError(str(error)) from error
    print(result.markdown)
    print(f"table: {result.markdown_path}")
    for path in result.figures.values():
        print(f"figure: {path}")
    return 0


def add_stagger_evaluate(subparsers) -> None:
    """Add ``neuralpde stagger-evaluate`` to ``subparsers``."""
    p = subparsers.add_parser(
        "stagger-evaluate",
        help="evaluate staggered runs (the same as `evaluate --solver run:...`)",
        description="Roll each staggered run's fine simulation out from DATA/test.zarr into "
                    "OUT/<run name>/, and with --coarse also the one-sub-solver coarse simulation "
                    "on (N/s)^2 against the same sub-field of the reference "
                    "(OUT/<run name>-sub<a><b>-<N/s>/). The same as `neuralpde evaluate --solver "
                    "run:RUN [--solver run:RUN#coarse]`; `neuralpde compare` tables both.",
        formatter_class=HelpFormatter)
    p.add_argument("--run", action="append", required=True, help="stagger run folder (repeatable)")
    p.add_argument("--data", required=True, help="data folder holding test.zarr")
    p.add_argument("--out", required=True, help="results folder")
    _add_scoring_options(p)
    p.add_argument("--coarse", action="store_true", help="also score the one-sub-solver simulation")
    p.set_defaults(handler=_run_stagger_evaluate)


def _run_stagger_evaluate(args) -> int:
    """Score staggered runs on the test store (``neuralpde stagger-evaluate``); returns 0."""
    from neuralpde.registry import evaluate
    from neuralpde.solvers.names import run_name
    from neuralpde.training.kinds import kind_of
    from neuralpde.training.runs import read_record, run_config

    names = []
    for run in args.run:
        config = run_config(read_record(run))
        if kind_of(config).command != "stagger-train":
            raise ConfigError(f"{run} is a {config.kind} run, not a staggered one: evaluate it "
                              "with `neuralpde evaluate --solver run:...`")
        names.append(run_name(run))
        if args.coarse and config.model.s > 1:
            names.append(run_name(run, coarse=()))
    rows = evaluate(names, args.data, args.out, horizon=args.horizon, n_samples=args.samples)
    _print_rows(rows, args.out)
    return 0


def add_quickstart(subparsers) -> None:
    """Add ``neuralpde quickstart`` to ``subparsers``."""
    p = subparsers.add_parser(
        "quickstart", help="the whole study in minutes on a CPU (a demonstration)",
        description="Generate a small data set (32² from a 128² DNS), evaluate DNS and WENO "
                    "baselines, train small LI and TSM-HiPPO models, evaluate them and the "
                    "pretrained LI, TSM-HiPPO and TSM-CNN weights shipped with the package "
                    "(trained on the mini data), and write OUT/results/{comparison.md,figures/}; "
                    "prints the table. Re-running reuses what exists. Its own training budgets "
                    "are a demonstration, not converged results.",
        formatter_class=HelpFormatter)
    p.add_argument("--out", default="quickstart", help="output folder")
    p.add_argument("--steps", type=int, help="training updates per model (default: the "
                                             "quickstart training preset, 120)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    p.set_defaults(handler=_run_quickstart)


def _run_quickstart(args) -> int:
    """Run the demonstration study (``neuralpde quickstart``); returns 0."""
    from neuralpde.config import with_fields
    from neuralpde.quickstart import run_quickstart
    from neuralpde.training.config import get_train_preset

    config = with_fields(get_train_preset("quickstart"), steps=args.steps)
    result = run_quickstart(args.out, train_config=config, progress=not args.no_progress)
    print()
    print(result.comparison.markdown)
    print(result.banner)
    print(f"report: {result.comparison.markdown_path}")
    for path in result.comparison.figures.values():
        print(f"figure: {path}")
    print("stage wall-clock (s): "
          + ", ".join(f"{k} {v:.0f}" for k, v in result.timings.items()))
    return 0


def add_pretrained(subparsers) -> None:
    """Add ``neuralpde pretrained`` to ``subparsers``."""
    p = subparsers.add_parser(
        "pretrained", help="list the shipped pretrained weights with their model cards",
        description="Print the model card of every weights file shipped with the package "
                    "(neuralpde/weights/; evaluate one as --solver pretrained:<name>), or of "
                    "NAME: the kind, training data, recipe, seed, checkpoint, machine, package "
                    "version and commit, and the time the updates took. A file written before "
                    "model cards existed gets the card its run record gives (docs/training.md, "
                    "\"Pretrained weights\").",
        formatter_class=HelpFormatter)
    p.add_argument("name", nargs="?",
                   help="a shipped name or the path of a .npz weights file (default: every "
                        "shipped one)")
    p.add_argument("--json", action="store_true",
                   help="print the cards as one JSON object, by name: file, card_in_file, card")
    p.set_defaults(handler=_run_pretrained)


def _run_pretrained(args) -> int:
    """Print the model cards of shipped or given weights (``neuralpde pretrained``); returns 0."""
    import json

    from neuralpde.training.pretrained import (
        WEIGHTS_DIR,
        available,
        describe_card,
        weights_card,
        weights_path,
    )

    names = [args.name] if args.name is not None else available()
    found = {}
    for name in names:  # every file is read (and a bad one refused) before anything is printed
        path = weights_path(name)
        card, stored = weights_card(path)
        found[name] = (path, card, stored)
    if args.json:
        print(json.dumps({name: {"file": str(path), "card_in_file": stored, "card": card}
                          for name, (path, card, stored) in found.items()}, indent=2))
        return 0
    if not found:
        print(f"no weights are shipped in {WEIGHTS_DIR}")
    blocks = [describe_card(("" if name == str(path) else f"{name}: ")  # a path: once
                            + f"{path} ({path.stat().st_size / 1024:.0f} KiB)", card, stored)
              for name, (path, card, stored) in found.items()]
    print("\n\n".join(blocks))
    return 0

