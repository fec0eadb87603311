"""The three-seed table of the mini recipe: every learned model's seeds, their mean, and the
paired per-trajectory differences of the seed-averaged model against the classical rows and
the former recipe.

Reads results folders written by ``neuralpde evaluate`` (``experiments/mini_recipe.sh``):
``<results>/<model>`` (seed 0) and ``<results>/<model>-seed<k>``; the baselines are results
folders scored on the same test store.  For each model it prints the high-correlation
duration of every seed (of the sample-mean correlation, ``duration_of_mean``), the
seeds' mean ± standard deviation, the per-trajectory duration averaged over the seeds
(mean ± standard error over the trajectories), the trajectories that diverged, and the
mean paired difference to each baseline ± its standard error (per trajectory, the
seed-averaged duration minus the baseline's: ``experiments/paired_durations.py``'s
groups).  A baseline may itself be a group ``a,b,c`` (seeds averaged).

Usage::

    python experiments/recipe_table.py --results results/mini --models li tsm-hippo tsm-cnn \\
        --seeds 0 1 2 --baseline weno5-z-32=results/mini/weno5-z-32 \\
        --baseline "former recipe (seed 0)=results/mini-recipe1k/{model}"

``{model}`` in a baseline is replaced by each model's name.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from paired_durations import group_per_sample, references  # noqa: E402


def _seed_folder(results: Path, model: str, seed: int) -> Path:
    return results / (model if seed == 0 else f"{model}-seed{seed}")


def _summary(folder: Path) -> dict:
    try:
        return json.loads((folder / "summary.json").read_text())
    except (OSError, ValueError):
        raise SystemExit(f"{folder} is not a results folder (no readable summary.json): run "
                         "neuralpde evaluate (experiments/mini_recipe.sh)") from None


def _baselines(texts) -> list[tuple[str, str]]:
    pairs = []
    for text in texts:
        label, sep, group = text.partition("=")
        if not sep or not label or not group:
            raise SystemExit(f"--baseline {text!r}: accepted LABEL=FOLDER[,FOLDER...]")
        pairs.append((label, group))
    return pairs


def model_row(results: Path, model: str, seeds, baselines) -> dict:
    """The table row of one model (see the module docstring)."""
    folders = [_seed_folder(results, model, s) for s in seeds]
    summaries = [_summary(f) for f in folders]
    durations = [float(s["duration_of_mean"]) for s in summaries]
    group = ",".join(str(f) for f in folders)
    averaged = group_per_sample(group)
    row = {"model": model, "seeds": list(seeds), "durations": durations,
           "seed_mean": float(np.mean(durations)),
           "seed_std": float(np.std(durations, ddof=1)) if len(durations) > 1 else 0.0,
           "per_sample_mean": float(averaged.mean()),
           "per_sample_se": float(averaged.std(ddof=1) / math.sqrt(averaged.size)),
           "diverged": [int(s.get("diverged_samples", 0)) for s in summaries],
           "samples": int(averaged.size), "paired": {}}
    for label, baseline in baselines:
        baseline = baseline.replace("{model}", model)
        if not all((Path(f) / "summary.json").exists() for f in baseline.split(",")):
            continue  # e.g. no former-recipe run of this model
        if references(group) != references(baseline):
            raise SystemExit(f"{model} and {baseline} were scored against different test "
                             "stores: a paired difference needs the same trajectories")
        difference = averaged - group_per_sample(baseline)
        row["paired"][label] = (float(difference.mean()),
                                float(difference.std(ddof=1) / math.sqrt(difference.size)))
    return row


def markdown(rows, labels) -> str:
    head = ["model", "duration per seed", "seeds: mean ± std", "per trajectory (seed mean)",
            "diverged (per seed)", *[f"− {label}" for label in labels]]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r["model"], " / ".join(f"{d:.2f}" for d in r["durations"]),
                 f"{r['seed_mean']:.2f} ± {r['seed_std']:.2f}",
                 f"{r['per_sample_mean']:.2f} ± {r['per_sample_se']:.2f}",
                 " / ".join(f"{d}/{r['samples']}" for d in r["diverged"])]
        cells += [("{:+.2f} ± {:.2f}".format(*r["paired"][label]) if label in r["paired"]
                   else "–") for label in labels]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", default="results/mini", type=Path)
    parser.add_argument("--models", nargs="+", default=["li", "tsm-hippo", "tsm-cnn"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--baseline", action="append", default=[],
                        help="LABEL=FOLDER[,FOLDER...] ({model} replaced by each model)")
    args = parser.parse_args(argv)
    baselines = _baselines(args.baseline)
    rows = [model_row(args.results, m, args.seeds, baselines) for m in args.models]
    print(f"{rows[0]['samples']} test trajectories; seeds {args.seeds}; duration: time the "
          "sample-mean correlation stays >= 0.8 [time units]; paired: seed-averaged per "
          "trajectory minus the baseline, mean ± s.e.")
    print(markdown(rows, [label for label, _ in baselines]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
