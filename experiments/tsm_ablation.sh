#!/usr/bin/env bash
# Why does TSM-HiPPO trail LI on mini?  Same mini budget as experiments/mini_tsm.sh
# (4 x 32 tower, 1,000 updates, batch 8, 8 unrolled steps; TSM: prefix 32, bundle 4),
# changing one thing at a time:
#   tsm-hippo-legt   the LegT memory (window = the 32-frame prefix) instead of LagT
#   tsm-hippo-seed1  LagT again with another seed (initial weights and window order)
#   li-seed1         LI with that seed: the seed-to-seed spread of the baseline
#   tsm-hippo-legt-seed1  LegT with seed 1: is the LegT gain more than seed luck?
#   *-unroll32       LegT TSM-HiPPO and LI with the published 32-step unroll, 250 updates
#                    (the same number of unrolled solver steps as 1,000 x 8)
# then one evaluation on the 8 mini test trajectories (compare with results/mini).
set -euo pipefail
DATA=${DATA:-data/mini}
RUNS=${RUNS:-runs/ablation}
OUT=${OUT:-results/ablation}
train() {  # name model extra-args...
  local name=$1 model=$2; shift 2
  /usr/bin/time -f "$name training wall-clock: %e s" \
    neuralpde train --model "$model" --preset mini --data "$DATA" --out "$RUNS/$name" --no-progress "$@"
}
train tsm-hippo-legt tsm-hippo --hippo-measure legt
train tsm-hippo-seed1 tsm-hippo --seed 1
train li-seed1 li --seed 1
train tsm-hippo-legt-seed1 tsm-hippo --hippo-measure legt --seed 1
train tsm-hippo-legt-unroll32 tsm-hippo --hippo-measure legt --unroll 32 --steps 250
train li-unroll32 li --unroll 32 --steps 250
neuralpde evaluate --data "$DATA" --out "$OUT" --preset mini \
  --solver "run:$RUNS/tsm-hippo-legt" --solver "run:$RUNS/tsm-hippo-seed1" --solver "run:$RUNS/li-seed1" \
  --solver "run:$RUNS/tsm-hippo-legt-seed1" \
  --solver "run:$RUNS/tsm-hippo-legt-unroll32" --solver "run:$RUNS/li-unroll32"
neuralpde compare --results "$OUT"
