"""The training-budget study's table (``experiments/budget_study.sh`` prints it).

One row per study point: the options that differ from the mini recipe, the optimiser
updates, the training wall-clock (the sum of the ``<point>.time`` pieces the study
script appends, one per ``neuralpde train`` invocation), the duration of the
sample-mean vorticity correlation, the per-sample mean ± standard error, the
latency (s per simulated time unit, batch 1), and the paired per-trajectory
difference to the base point (mean ± standard error over the test trajectories).

Each point's ``evaluate`` timed its own latency while whatever else ran on the
machine then ran, so those figures carry the machine's noise.  With
``--latency-rounds R`` (and ``--data``) the table adds a column timed here, in one
process, with the same rule as ``evaluate`` (``measure_latency``: batch 1, 1 time
unit from the first test trajectory, compile excluded, median of 3): every
point's solver once per round, the rounds interleaved, the median of the R
rounds kept.  Run it on an otherwise idle machine.

Usage::

    python experiments/budget_table.py --results results/budget --runs runs/budget \\
        --base tsm-hippo-base tsm-hippo-base tsm-hippo-unroll16 ...
    python experiments/budget_table.py ... --data data/mini --latency-rounds 5 ...
"""

from __future__ import annotations

import argparse
import json
import math
import re
from pathlib import Path

import numpy as np
import xarray as xr


def point(results: Path, runs: Path, name: str) -> dict | None:
    """The figures of one study point, or None while it is not evaluated."""
    folder = results / name
    if not (folder / "summary.json").exists():
        return None
    summary = json.loads((folder / "summary.json").read_text())
    with xr.open_dataset(folder / "metrics.nc") as scores:
        durations = np.asarray(scores["duration_per_sample"].values, dtype=float)
    # one wall-clock per line; /usr/bin/time writes "Command exited with non-zero status N"
    # before the time of a failed piece, which is counted too (it was spent)
    lines = ((results / f"{name}.time").read_text().splitlines()
             if (results / f"{name}.time").exists() else [])
    pieces = [line for line in lines if re.fullmatch(r"\s*[0-9.]+\s*", line)]
    args = (results / f"{name}.args").read_text().split(":", 1)[-1].strip() if (
        results / f"{name}.args").exists() else "?"
    run = json.loads((runs / name / "run.json").read_text())
    return {"name": name, "args": args.replace(",", " "),
            "steps": run["train_config"]["steps"],
            "train_s": sum(float(p) for p in pieces) if pieces else math.nan,
            "pieces": len(pieces), "duration": summary["duration_of_mean"],
            "latency": summary["latency_s_per_time_unit"], "per_sample": durations,
            "diverged": summary.get("diverged_samples", 0)}


def interleaved_latency(runs: Path, names: list, data: Path, rounds: int) -> dict:
    """Median over ``rounds`` interleaved rounds of each run's batch-1 latency [s/t.u.]."""
    from neuralpde.solvers.base import history_frames, input_size
    from neuralpde.solvers.rollout import measure_latency
    from neuralpde.store import open_store
    from neuralpde.store.reading import initial_inputs
    from neuralpde.training.runs import load_solver

    store = open_store(data / "test.zarr", split="test")
    solvers, inputs = {}, {}
    for name in names:
        solver = load_solver(runs / name, store)
        solvers[name] = solver
        inputs[name] = initial_inputs(store, input_size(solver), 1, history_frames(solver),
                                      name)[0]
    timings = {name: [] for name in names}
    for _ in range(rounds):
        for name in names:
            timings[name].append(measure_latency(solvers[name], inputs[name], duration=1.0))
    return {name: float(np.median(t)) for name, t in timings.items()}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, required=True)
    parser.add_argument("--runs", type=Path, required=True)
    parser.add_argument("--base", required=True,
                        help="the point the differences are paired against")
    parser.add_argument("--data", type=Path, help="data folder (test.zarr) for --latency-rounds")
    parser.add_argument("--latency-rounds", type=int, default=0,
                        help="time every evaluated point's latency here, R interleaved rounds")
    parser.add_argument("points", nargs="+")
    args = parser.parse_args(argv)
    base = point(args.results, args.runs, args.base)
    names = list(dict.fromkeys(args.points))
    timed = {}
    if args.latency_rounds:
        if args.data is None:
            parser.error("--latency-rounds needs --data")
        done = [n for n in names if (args.results / n / "summary.json").exists()]
        timed = interleaved_latency(args.runs, done, args.data, args.latency_rounds)
    extra = " latency, interleaved [s/t.u.] |" if timed else ""
    print("| point | options | updates | training [s] | duration | per-sample mean ± s.e. "
          "| latency [s/t.u.] |" + extra + " paired vs base ± s.e. | diverged |")
    print("|---|---|---:|---:|---:|---:|---:|" + ("---:|" if timed else "") + "---:|---:|")
    for name in names:
        row = point(args.results, args.runs, name)
        if row is None:
            print(f"| {name} | (not evaluated yet) |" + " |" * (8 if timed else 7))
            continue
        d = row["per_sample"]
        n = d.size
        paired = "–"
        if base is not None and base["per_sample"].shape == d.shape and name != args.base:
            diff = d - base["per_sample"]
            paired = f"{diff.mean():+.2f} ± {diff.std(ddof=1) / math.sqrt(n):.2f}"
        train = f"{row['train_s']:.0f}" + (f" ({row['pieces']} pieces)" if row["pieces"] > 1
                                           else "")
        print(f"| {name} | {row['args']} | {row['steps']} | {train} | {row['duration']:.2f} | "
              f"{d.mean():.2f} ± {d.std(ddof=1) / math.sqrt(n):.2f} | {row['latency']:.4f} | "
              + (f"{timed[name]:.4f} | " if timed else "") + f"{paired} | {row['diverged']}/{n} |")
    print(f"\n{base['per_sample'].size if base else '?'} test trajectories; "
          "one seed (0) per point; duration: time the sample-mean correlation stays >= 0.8.")


if __name__ == "__main__":
    main()
