"""Generalisation of the mini-trained learned solvers, without retraining.

The LI and TSM runs trained on mini Kolmogorov flow (Re = 1000, [0, 2π]², 32²)
are evaluated on three flows they never saw, each against DNS on the same grid
(and DNS at 2x the grid), from a DNS reference 4-8x finer:

* ``decaying`` — decaying turbulence (no forcing, no drag), Re = 1000, 32² ← 256²;
* ``re4000``   — Kolmogorov flow at viscosity 2.5e-4, 32² ← 256²;
* ``domain4pi`` — Kolmogorov flow on [0, 4π]² at the same cells per unit
  length: 64² ← 256² (a 4x, not 8x, finer reference, to stay CPU-sized).

Each test set: 4 trajectories of 6 time units with the 32-frame history TSM
encodes, after a warm-up: the mini test split's 40.9 time units for the two
Kolmogorov flows (their stationary regime, as the mini data), 5.9 for decaying
turbulence (it has no stationary regime; after 40 time units without forcing
little of the initial energy is left to test on).  Prints one table of
high-correlation durations (sample mean curve; per-sample mean ± std).

Usage::

    python experiments/generalisation.py --runs runs/mini/li runs/mini/tsm-hippo runs/mini/tsm-cnn
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

from neuralpde.evaluation.evaluate import summary_is_current
from neuralpde.registry import evaluate
from neuralpde.store.generate import generate
from neuralpde.store.presets import get_preset, with_overrides

FLOWS = {
    "decaying": dict(flow_kind="decaying", warmup=5.9),
    "re4000": dict(flow={"viscosity": 2.5e-4}),
    "domain4pi": dict(flow={"domain_size": 4 * math.pi}, model_size=64, fine_size=256,
                      initial_sizes=(128,)),
}


def preset_for(name: str, samples: int, duration: float):
    fields = dict(FLOWS[name])
    fields.setdefault("initial_sizes", (64,))
    return with_overrides(get_preset("mini"), split="test", n_samples=samples,
                          duration=duration, **fields)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", nargs="+", required=True, help="training run folders")
    parser.add_argument("--data", default="data/generalisation")
    parser.add_argument("--out", default="results/generalisation")
    parser.add_argument("--flows", nargs="+", default=list(FLOWS), choices=list(FLOWS))
    parser.add_argument("--samples", type=int, default=4)
    parser.add_argument("--duration", type=float, default=6.0)
    args = parser.parse_args(argv)

    rows = []
    for name in args.flows:
        preset = preset_for(name, args.samples, args.duration)
        data, out = Path(args.data) / name, Path(args.out) / name
        start = time.perf_counter()
        generate(preset, data, splits=("test",), progress=False)
        print(f"{name}: test data {preset.model_size}² ← {preset.fine_size}² "
              f"({time.perf_counter() - start:.0f} s)", flush=True)
        model = preset.model_size
        folders = {f"dns-{model}": out / f"dns-{model}",
                   f"dns-{2 * model}": out / f"dns-{2 * model}"}
        folders.update({f"run:{run}": out / Path(run).name for run in args.runs})
        todo = [solver for solver, folder in folders.items() if not summary_is_current(
            folder, Path(solver[4:]) / "metrics.jsonl" if solver.startswith("run:") else None,
            reference=data / "test.zarr")]
        if todo:  # evaluations already done (and newer than their run) are reused
            evaluate(todo, data, out, transfer=True)
        for folder in folders.values():
            row = json.loads((folder / "summary.json").read_text())
            rows.append({"flow": name, **row})
            print(f"  {row['solver']:>12}: {row['duration_of_mean']:.3f} "
                  f"({row['duration_mean']:.3f} ± {row['duration_std']:.3f})", flush=True)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "generalisation.json").write_text(json.dumps(rows, indent=2) + "\n")
    print()
    print("| flow | grid | solver | duration (mean curve) | per sample mean ± std | diverged |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['flow']} | {row['model_size']}² | {row['solver']} | "
              f"{row['duration_of_mean']:.3f} | {row['duration_mean']:.3f} ± "
              f"{row['duration_std']:.3f} | {row['diverged_samples']} |")


if __name__ == "__main__":
    main()
