#!/usr/bin/env bash
# Measured at the former mini training recipe (4 x 32 tower, 8-step unroll), pinned below with
# --hidden 32 --unroll 8: the mini preset is now the 4 x 64 tower with a 16-step unroll that
# experiments/budget_study.sh chose (experiments/mini_recipe.sh trains it with three seeds).
# Which TSM-HiPPO memory works at the mini budget, and is it more than seed luck?
# Same mini budget as experiments/mini_tsm.sh (4 x 32 tower, 1,000 updates, batch 8,
# 8 unrolled steps; TSM: prefix 32, bundle 4).  The mini default memory is LegT N = 8 over
# the last 16 frames (runs/mini/tsm-hippo, trained by experiments/mini_tsm.sh); here:
#   tsm-hippo-seed1, -seed2     the default memory with seeds 1 and 2
#   li-seed1, li-seed2          LI with those seeds: the seed-to-seed spread of the baseline
#   tsm-hippo-lagt, -lagt-seed1 the published measure, LagT, at N = 32 (the mini default
#                               before this ablation)
#   tsm-hippo-legt, -legt-seed1 LegT N = 32 over the whole 32-frame prefix (theta 0 = prefix)
#   tsm-hippo-legt-rms          that LegT with every feature channel divided by its RMS
#   *-unroll32                  LegT N = 32 TSM-HiPPO and LI with the published 32-step
#                               unroll, 250 updates (the same number of unrolled solver steps)
# then one evaluation on the 8 mini test trajectories and the paired differences to LI.
# About 12-20 min of training per run on the 2-core CPU; the runs resume if interrupted.
set -euo pipefail
DATA=${DATA:-data/mini}
RUNS=${RUNS:-runs/ablation}
OUT=${OUT:-results/ablation}
MINI=${MINI:-results/mini}
train() {  # name model extra-args...
  local name=$1 model=$2; shift 2
  /usr/bin/time -f "$name training wall-clock: %e s" \
    neuralpde train --model "$model" --preset mini --hidden 32 --unroll 8 --data "$DATA" --out "$RUNS/$name" --no-progress "$@"
}
LAGT=(--hippo-measure lagt --hippo-order 32 --hippo-theta 0)
LEGT32=(--hippo-measure legt --hippo-order 32 --hippo-theta 0)
train tsm-hippo-seed1 tsm-hippo --seed 1
train tsm-hippo-seed2 tsm-hippo --seed 2
train li-seed1 li --seed 1
train li-seed2 li --seed 2
train tsm-hippo-lagt tsm-hippo "${LAGT[@]}"
train tsm-hippo-lagt-seed1 tsm-hippo "${LAGT[@]}" --seed 1
train tsm-hippo-legt tsm-hippo "${LEGT32[@]}"
train tsm-hippo-legt-seed1 tsm-hippo "${LEGT32[@]}" --seed 1
train tsm-hippo-legt-rms tsm-hippo "${LEGT32[@]}" --feature-norm rms
train tsm-hippo-legt-unroll32 tsm-hippo "${LEGT32[@]}" --unroll 32 --steps 250
train li-unroll32 li --unroll 32 --steps 250
solvers=()
for name in tsm-hippo-seed1 tsm-hippo-seed2 li-seed1 li-seed2 tsm-hippo-lagt tsm-hippo-lagt-seed1 \
    tsm-hippo-legt tsm-hippo-legt-seed1 tsm-hippo-legt-rms tsm-hippo-legt-unroll32 li-unroll32; do
  solvers+=(--solver "run:$RUNS/$name")
done
neuralpde evaluate --data "$DATA" --out "$OUT" --preset mini "${solvers[@]}"
python experiments/paired_durations.py --baseline "$MINI/li" \
  "$OUT/li-seed1" "$OUT/li-seed2" "$MINI/tsm-cnn" "$MINI/tsm-hippo" "$OUT/tsm-hippo-seed1" \
  "$OUT/tsm-hippo-seed2" "$OUT/tsm-hippo-lagt" "$OUT/tsm-hippo-lagt-seed1" "$OUT/tsm-hippo-legt" \
  "$OUT/tsm-hippo-legt-seed1" "$OUT/tsm-hippo-legt-rms" "$OUT/tsm-hippo-legt-unroll32" \
  "$OUT/li-unroll32" "$MINI/weno5-z-32" "$MINI/dns-32" "$MINI/dns-64"
python experiments/paired_durations.py --baseline "$MINI/li,$OUT/li-seed1,$OUT/li-seed2" \
  "$MINI/tsm-hippo,$OUT/tsm-hippo-seed1,$OUT/tsm-hippo-seed2"
for seed in 1 2; do  # seed by seed: TSM-HiPPO against LI with the same seed
  python experiments/paired_durations.py --baseline "$OUT/li-seed$seed" "$OUT/tsm-hippo-seed$seed"
done
