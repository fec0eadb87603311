#!/usr/bin/env bash
# Temporal stencil modeling on the mini preset (CPU): train TSM-HiPPO and TSM-CNN with the
# same budget as LI (mini training preset: 4 x 32 tower, 1,000 updates, batch 8, 8-step
# unroll; TSM: 32-frame prefix, bundle 4, LegT memory of order 8 over 16 frames), then
# evaluate DNS-32/64/128, WENO5-JS/Z, LI, TSM-CNN and TSM-HiPPO on the 8 test trajectories and print one table.
# Run experiments/mini_li.sh first for the LI run (or let this script train it).
set -euo pipefail
# TRAIN_TRAJECTORIES=K trains on the first K trajectories of the train store (--train-trajectories K; default: all of them)
tt=(); [ -z "${TRAIN_TRAJECTORIES:-}" ] || tt=(--train-trajectories "$TRAIN_TRAJECTORIES")
DATA=${DATA:-data/mini}
RUNS=${RUNS:-runs/mini}
OUT=${OUT:-results/mini}
neuralpde generate --preset mini --out "$DATA"
for model in li tsm-cnn tsm-hippo; do
  /usr/bin/time -f "$model training wall-clock: %e s" \
    neuralpde train --model "$model" --preset mini --data "$DATA" --out "$RUNS/$model" "${tt[@]}" --no-progress
done
neuralpde evaluate --data "$DATA" --out "$OUT" --preset mini \
  --solver dns --solver dns-64 --solver dns-128 --solver weno5-js --solver weno5-z \
  --solver "run:$RUNS/li" --solver "run:$RUNS/tsm-cnn" --solver "run:$RUNS/tsm-hippo"
neuralpde compare --results "$OUT" --times 0 1 2 4 8
