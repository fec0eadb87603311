#!/usr/bin/env bash
# Learned interpolation on the mini preset (CPU): train LI (4 x 32 tower, 1,000 steps,
# batch 8, 8-step unroll) on data/mini, evaluate it beside DNS and WENO, print the table.
# Run experiments/mini_dns_study.sh first (or let this script generate the data).
set -euo pipefail
# TRAIN_TRAJECTORIES=K trains on the first K trajectories of the train store (--train-trajectories K; default: all of them)
tt=(); [ -z "${TRAIN_TRAJECTORIES:-}" ] || tt=(--train-trajectories "$TRAIN_TRAJECTORIES")
DATA=${DATA:-data/mini}
RUN=${RUN:-runs/mini/li}
OUT=${OUT:-results/mini}
neuralpde generate --preset mini --out "$DATA"
/usr/bin/time -f "training wall-clock: %e s" neuralpde train --model li --preset mini --data "$DATA" --out "$RUN" "${tt[@]}"
neuralpde evaluate --data "$DATA" --out "$OUT" --preset mini --solver "run:$RUN"
neuralpde compare --results "$OUT" --times 0 1 2 4 8
