"""Command line of the staggered sub-solvers: ``neuralpde stagger-train | stagger-evaluate``.

Registered by ``neuralpde.cli`` through :func:`add_stagger_commands`; like
every sub-command, a bad value raises a :class:`~neuralpde.config.UserInputError`
that the CLI prints (naming the value and the accepted range) and turns
into exit status 2.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from neuralpde.config import ConfigError


def _add_train(subparsers) -> None:
    p = subparsers.add_parser(
        "stagger-train", help="train staggered coarse sub-solvers (NeuralStagger-style)",
        description="Train s^2 x s_T coarse sub-solvers whose interleaved outputs form the fine "
                    "solution, with the physics-constrained loss (discrete Navier-Stokes residual, "
                    "no simulation data) on a state pool, or supervised from DATA/train.zarr. "
                    "Checkpoints and metrics.jsonl go to OUT; re-running the same command resumes.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--s", type=int, default=2, help="spatial factor: s^2 sub-fields on (N/s)^2")
    p.add_argument("--s-time", type=int, default=1, help="temporal factor s_T: fine steps per call")
    p.add_argument("--out", required=True, help="run folder (checkpoints, metrics.jsonl, run.json)")
    p.add_argument("--preset", default="mini", help="flow and grid of the physics loss "
                                                     "(mini, paper-lite, paper)")
    p.add_argument("--size", type=int, help="fine grid N (default: the preset's model grid)")
    p.add_argument("--loss", choices=("physics", "supervised", "both"), default="physics",
                   help="physics-constrained, supervised from --data, or both")
    p.add_argument("--data", help="data folder holding train.zarr (supervised losses)")
    p.add_argument("--steps", type=int, help="optimiser updates")
    p.add_argument("--batch-size", type=int, help="states per update")
    p.add_argument("--pool-size", type=int, help="states in the training pool")
    p.add_argument("--warmup-time", type=float, help="pool seeds: DNS warm-up of U(0, T) time units")
    p.add_argument("--hidden", type=int, help="tower width")
    p.add_argument("--depth", type=int, help="tower hidden layers")
    p.add_argument("--weights", choices=("shared", "separate", "joint"), help="sub-solver weights")
    p.add_argument("--embedding", choices=("learned", "onehot", "none"),
                   help="sub-task embedding of shared weights")
    p.add_argument("--view", choices=("all", "own"), help="what a sub-solver sees")
    p.add_argument("--project", action="store_true", default=None,
                   help="pressure-project the rebuilt fine frames")
    p.add_argument("--convection", choices=("van_leer", "central"), help="convection in the residual")
    p.add_argument("--div-weight", type=float, help="weight of the divergence term")
    p.add_argument("--lr", type=float, dest="peak_lr", help="peak learning rate")
    p.add_argument("--seed", type=int, help="initial weights, pool seeds and batch draws")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(handler=run_train)


def run_train(args) -> int:
    from neuralpde.presets import get_preset
    from neuralpde.stagger.config import StaggerTrainConfig, with_overrides
    from neuralpde.stagger.train import train

    preset = get_preset(args.preset)
    config = with_overrides(
        StaggerTrainConfig(), s=args.s, s_time=args.s_time, size=args.size or 0,
        loss=args.loss, steps=args.steps, batch_size=args.batch_size, pool_size=args.pool_size,
        warmup_time=args.warmup_time, hidden=args.hidden, depth=args.depth, weights=args.weights,
        embedding=args.embedding, view=args.view, project=args.project,
        convection=args.convection, div_weight=args.div_weight, peak_lr=args.peak_lr,
        seed=args.seed)
    if not config.size and args.loss == "physics":
        config = with_overrides(config, size=preset.model_size)
    summary = train(config, args.out, flow=preset.flow, data_dir=args.data,
                    progress=not args.no_progress)
    print(f"run: {summary['run']}  step {summary['step']}  loss {summary['loss']:.4g}  "
          f"skipped {summary['skipped']}  {summary['seconds']:.0f} s")
    print(f"evaluate with: neuralpde stagger-evaluate --run {args.out} --data data/{args.preset} "
          "--out results/stagger")
    return 0


def _add_evaluate(subparsers) -> None:
    p = subparsers.add_parser(
        "stagger-evaluate", help="score trained staggered sub-solvers on a test store",
        description="Roll each run's fine simulation out from DATA/test.zarr (results folder "
                    "OUT/<run name>/ as `neuralpde evaluate` writes it, readable by `neuralpde "
                    "compare`), and with --coarse also the one-sub-solver coarse simulation on "
                    "(N/s)^2 against the same sub-field of the reference "
                    "(OUT/coarse/<name>/summary.json).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--run", action="append", required=True, help="stagger run folder (repeatable)")
    p.add_argument("--data", required=True, help="data folder holding test.zarr")
    p.add_argument("--out", required=True, help="results folder")
    p.add_argument("--horizon", type=float, help="time units to roll out (default: the whole span)")
    p.add_argument("--samples", type=int, help="test trajectories (default: all)")
    p.add_argument("--coarse", action="store_true", help="also score the one-sub-solver simulation")
    p.set_defaults(handler=run_evaluate)


def run_evaluate(args) -> int:
    from neuralpde import store
    from neuralpde.evaluation.evaluate import evaluate_solver
    from neuralpde.stagger.evaluate import duration, evaluate_coarse
    from neuralpde.stagger.train import load_stagger_solver

    test = store.open_store(Path(args.data) / "test.zarr", split="test")
    for run in args.run:
        solver = load_stagger_solver(run)
        if solver.size != int(test.attrs["model_size"]):
            raise ConfigError(f"run {run} was trained on {solver.size}²: the test store's model "
                              f"grid is {test.attrs['model_size']}²")
        row = evaluate_solver(solver, test, args.out, str(args.data), horizon=args.horizon,
                              n_samples=args.samples)
        print(f"{row['solver']:>20}: duration {row['duration_of_mean']:.3f}, latency "
              f"{row['latency_s_per_time_unit']:.4f} s/time unit")
        if args.coarse and solver.config.s > 1:
            coarse = solver.coarse()
            result = evaluate_coarse(coarse, test, args.horizon, args.samples)
            summary = {"solver": coarse.name, "size": coarse.size, "a": coarse.a, "b": coarse.b,
                       "duration_of_mean": duration(result["correlation"], result["time"]),
                       "latency_s_per_time_unit": result["latency"],
                       "time": result["time"].tolist(),
                       "correlation": result["correlation"].tolist(),
                       "relative_l2": result["relative_l2"].tolist()}
            folder = Path(args.out) / "coarse" / coarse.name  # not a `compare` results folder
            folder.mkdir(parents=True, exist_ok=True)
            tmp = folder / "summary.json.tmp"
            tmp.write_text(json.dumps(summary, indent=2) + "\n")
            tmp.replace(folder / "summary.json")
            print(f"{coarse.name:>20}: duration {summary['duration_of_mean']:.3f} (against the "
                  f"reference sub-field), latency {result['latency']:.4f} s/time unit")
    print(f"results: {args.out}")
    return 0


def add_stagger_commands(subparsers) -> None:
    """Add ``stagger-train`` and ``stagger-evaluate`` to the ``neuralpde`` sub-parsers."""
    _add_train(subparsers)
    _add_evaluate(subparsers)


__all__ = ["add_stagger_commands", "run_train", "run_evaluate"]
