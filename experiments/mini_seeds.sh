#!/usr/bin/env bash
# Measured at the former mini training recipe (4 x 32 tower, 8-step unroll), pinned below with
# --hidden 32 --unroll 8: the mini preset is now the 4 x 64 tower with a 16-step unroll that
# experiments/budget_study.sh chose (experiments/mini_recipe.sh trains it with three seeds).
# Seeds 1 and 2 of the mini learned models (default LI and TSM-HiPPO; MODELS="tsm-cnn" for
# others), beside seed 0 of experiments/mini_li.sh / experiments/mini_tsm.sh: train (same budget,
# --seed k: other initial weights and another order of the training windows), evaluate on the 8
# test trajectories, then print the paired per-trajectory differences of the seed-averaged
# models against WENO5-Z, DNS-64, DNS-32 and the seed-averaged LI.
# Needs data/mini and the seed-0 results (results/mini/{li,<model>,weno5-z-32,dns-32,dns-64}).
set -euo pipefail
# TRAIN_TRAJECTORIES=K trains on the first K trajectories of the train store (--train-trajectories K; default: all of them)
tt=(); [ -z "${TRAIN_TRAJECTORIES:-}" ] || tt=(--train-trajectories "$TRAIN_TRAJECTORIES")
DATA=${DATA:-data/mini}
RUNS=${RUNS:-runs/mini-recipe1k}
OUT=${OUT:-results/mini-recipe1k}
read -r -a models <<< "${MODELS:-li tsm-hippo}"
solvers=()
for seed in 1 2; do
  for model in "${models[@]}"; do
    /usr/bin/time -f "$model seed $seed training wall-clock: %e s" \
      neuralpde train --model "$model" --preset mini --hidden 32 --unroll 8 --data "$DATA" --out "$RUNS/$model-seed$seed" "${tt[@]}" \
      --seed "$seed" --no-progress
    solvers+=(--solver "run:$RUNS/$model-seed$seed")
  done
done
neuralpde evaluate --data "$DATA" --out "$OUT" --preset mini "${solvers[@]}"
LI="$OUT/li,$OUT/li-seed1,$OUT/li-seed2"
groups=()
singles=()
for model in "${models[@]}"; do
  groups+=("$OUT/$model,$OUT/$model-seed1,$OUT/$model-seed2")
  singles+=("$OUT/$model" "$OUT/$model-seed1" "$OUT/$model-seed2")
done
for baseline in "$OUT/weno5-z-32" "$OUT/dns-64" "$OUT/dns-32" "$LI"; do
  python experiments/paired_durations.py --baseline "$baseline" "${groups[@]}" "${singles[@]}"
done
