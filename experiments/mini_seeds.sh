#!/usr/bin/env bash
# Seeds 1 and 2 of LI and TSM-HiPPO on the mini preset (CPU), beside seed 0 of
# experiments/mini_li.sh / experiments/mini_tsm.sh: train (same budget, --seed k: other initial
# weights and another order of the training windows), evaluate on the 8 test trajectories,
# then print the paired per-trajectory differences of the seed-averaged models.
# Needs data/mini and the seed-0 results (results/mini/{li,tsm-hippo,weno5-z-32,dns-32,dns-64}).
set -euo pipefail
DATA=${DATA:-data/mini}
RUNS=${RUNS:-runs/mini}
OUT=${OUT:-results/mini}
for seed in 1 2; do
  for model in li tsm-hippo; do
    /usr/bin/time -f "$model seed $seed training wall-clock: %e s" \
      neuralpde train --model "$model" --preset mini --data "$DATA" --out "$RUNS/$model-seed$seed" \
      --seed "$seed" --no-progress
  done
done
neuralpde evaluate --data "$DATA" --out "$OUT" --preset mini \
  --solver "run:$RUNS/li-seed1" --solver "run:$RUNS/li-seed2" \
  --solver "run:$RUNS/tsm-hippo-seed1" --solver "run:$RUNS/tsm-hippo-seed2"
LI="$OUT/li,$OUT/li-seed1,$OUT/li-seed2"
TSM="$OUT/tsm-hippo,$OUT/tsm-hippo-seed1,$OUT/tsm-hippo-seed2"
for baseline in "$OUT/weno5-z-32" "$OUT/dns-64" "$OUT/dns-32" "$LI"; do
  python experiments/paired_durations.py --baseline "$baseline" "$LI" "$TSM" \
    "$OUT/li" "$OUT/li-seed1" "$OUT/li-seed2" \
    "$OUT/tsm-hippo" "$OUT/tsm-hippo-seed1" "$OUT/tsm-hippo-seed2"
done
