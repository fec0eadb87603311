"""The training-budget study's table (``experiments/budget_study.sh`` prints it).

One row per study point: the options that differ from the mini recipe, the optimiser
updates, the training wall-clock (the sum of the ``<point>.time`` pieces the study
script appends, one per ``neuralpde train`` invocation), the duration of the
sample-mean vorticity correlation, the per-sample mean ± standard error, the
latency (s per simulated time unit, batch 1), and the paired per-trajectory
difference to the base point (mean ± standard error over the test trajectories).

Usage::

    python experiments/budget_table.py --results results/budget --runs runs/budget \\
        --base tsm-hippo-base tsm-hippo-base tsm-hippo-unroll16 ...
"""

from __future__ import annotations

import argparse
import json
import math
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
    pieces = ((results / f"{name}.time").read_text().split()
              if (results / f"{name}.time").exists() else [])
    args = (results / f"{name}.args").read_text().split(":", 1)[-1].strip() if (
        results / f"{name}.args").exists() else "?"
    run = json.loads((runs / name / "run.json").read_text())
    return {"name": name, "args": args.replace(",", " "),
            "steps": run["train_config"]["steps"],
            "train_s": sum(float(p) for p in pieces) if pieces else math.nan,
            "pieces": len(pieces), "duration": summary["duration_of_mean"],
            "latency": summary["latency_s_per_time_unit"], "per_sample": durations}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, required=True)
    parser.add_argument("--runs", type=Path, required=True)
    parser.add_argument("--base", required=True,
                        help="the point the differences are paired against")
    parser.add_argument("points", nargs="+")
    args = parser.parse_args(argv)
    base = point(args.results, args.runs, args.base)
    print("| point | options | updates | training [s] | duration | per-sample mean ± s.e. "
          "| latency [s/t.u.] | paired vs base ± s.e. |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for name in dict.fromkeys(args.points):
        row = point(args.results, args.runs, name)
        if row is None:
            print(f"| {name} | (not evaluated yet) | | | | | | |")
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
              f"{paired} |")
    print(f"\n{base['per_sample'].size if base else '?'} test trajectories; "
          "one seed (0) per point; duration: time the sample-mean correlation stays >= 0.8.")


if __name__ == "__main__":
    main()
