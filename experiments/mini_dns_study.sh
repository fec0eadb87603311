#!/usr/bin/env bash
# The DNS-resolution study on the mini preset (CPU): DNS at 32², 64², 128² and the
# WENO5 baselines at 32², against the 256² reference, 8 test trajectories, 12 time units.
# Prints the comparison table; writes results/mini/{comparison.md,comparison.csv,figures/}.
set -euo pipefail
DATA=${DATA:-data/mini}
OUT=${OUT:-results/mini}
neuralpde generate --preset mini --out "$DATA"
neuralpde evaluate --data "$DATA" --out "$OUT" --preset mini \
  --solver dns --solver dns-64 --solver dns-128 --solver weno5-js --solver weno5-z
neuralpde compare --results "$OUT" --times 0 1 2 4 8
