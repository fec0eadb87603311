"""Per-sample high-correlation durations of evaluated solvers, paired against a baseline.

Every solver evaluated on the same test store sees the same trajectories, so
the per-sample difference to a baseline removes the sample-to-sample spread
(the largest term in the ``± std`` of the comparison table).  Prints one row
per results folder: the per-sample durations, their mean, and the mean paired
difference to the baseline with its standard error (std / sqrt(samples)).

A comma-separated group of folders (``a,b,c``: e.g. the seeds of one model)
counts as one solver whose per-sample duration is the mean over the group;
pairing a group of seeds against the baseline's group of seeds compares the
seed-averaged models.

Usage::

    python experiments/paired_durations.py --baseline results/mini/li \\
        results/mini/tsm-hippo results/ablation/tsm-hippo-legt results/ablation/li-seed1
    python experiments/paired_durations.py --baseline results/mini/li,results/ablation/li-seed1 \
        results/ablation/tsm-hippo-legt,results/ablation/tsm-hippo-legt-seed1
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
import xarray as xr


def per_sample(folder) -> np.ndarray:
    """``duration_per_sample`` of one results folder (``neuralpde evaluate`` output)."""
    path = Path(folder) / "metrics.nc"
    if not path.exists():
        raise SystemExit(f"{folder} is not a results folder (no metrics.nc): "
                         "run neuralpde evaluate")
    with xr.open_dataset(path) as scores:
        return np.asarray(scores["duration_per_sample"].values, dtype=float)


def references(group: str) -> set:
    """The test stores the folders of ``group`` were scored against (``summary.json``)."""
    found = set()
    for folder in (f for f in group.split(",") if f):
        try:
            found.add(json.loads((Path(folder) / "summary.json").read_text()).get("reference", ""))
        except (OSError, ValueError):
            found.add("")
    return found


def group_per_sample(group: str) -> np.ndarray:
    """Per-sample durations of ``folder[,folder...]``, averaged over the folders."""
    folders = [f for f in group.split(",") if f]
    if not folders:
        raise SystemExit(f"empty results group {group!r}: give one folder or a,b,c")
    values = [per_sample(f) for f in folders]
    if any(v.shape != values[0].shape for v in values):
        raise SystemExit(f"the folders of {group!r} hold different numbers of samples "
                         f"({[len(v) for v in values]}): evaluate them on the same test store")
    return np.mean(values, axis=0)


def group_name(group: str) -> str:
    return "+".join(Path(f).name for f in group.split(",") if f)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--baseline", required=True,
                        help="results folder (or a,b,... averaged per sample) to pair against")
    parser.add_argument("folders", nargs="+",
                        help="results folders (same test store); a,b,... averages a group")
    args = parser.parse_args(argv)

    base = group_per_sample(args.baseline)
    print(f"baseline {args.baseline}: {len(base)} samples")
    print("| solver | per-sample durations | mean | paired difference to baseline (± s.e.) |")
    print("|---|---|---:|---:|")
    for folder in [args.baseline, *args.folders]:
        values = group_per_sample(folder)
        if values.shape != base.shape:
            raise SystemExit(f"{folder} has {len(values)} samples, the baseline {len(base)}: "
                             "evaluate both on the same test store and --samples")
        if references(folder) != references(args.baseline):
            print(f"note: {group_name(folder)} was scored against {sorted(references(folder))}, "
                  f"the baseline against {sorted(references(args.baseline))}: the pairing holds "
                  "only if those stores hold the same trajectories")
        diff = values - base
        error = diff.std(ddof=1) / math.sqrt(len(diff)) if len(diff) > 1 else float("nan")
        print(f"| {group_name(folder)} | {' '.join(f'{v:.2f}' for v in values)} | "
              f"{values.mean():.3f} | {diff.mean():+.3f} ± {error:.3f} |")


if __name__ == "__main__":
    main()
