#!/usr/bin/env bash
# Measured at the former mini training recipe (4 x 32 tower, 8-step unroll), pinned below with
# --hidden 32 --unroll 8: the mini preset is now the 4 x 64 tower with a 16-step unroll that
# experiments/budget_study.sh chose (experiments/mini_recipe.sh trains it with three seeds).
# Staggered temporal stencils on mini: the LI and TSM-HiPPO towers with --decompose 2 (the
# 4 x 32 tower run on the 4 interleaved 16² sub-fields, docs/training.md) at the mini budget,
# beside the undecomposed towers' three seeds (experiments/mini_li.sh, mini_tsm.sh,
# mini_seeds.sh).  SEEDS (default "0 1 2") chooses the seeds trained; LI seed 0 is
# runs/mini/li-decompose2.  Evaluated on the 8 mini test trajectories; paired differences
# (seed-averaged over the seeds given) against the undecomposed model's 3 seeds and WENO5-Z;
# then latency side by side with the undecomposed towers (python benchmarks/tsm_latency.py
# --decompose 2: untrained weights, batch 1, interleaved rounds; needs a quiet machine).
set -euo pipefail
# TRAIN_TRAJECTORIES=K trains on the first K trajectories of the train store (--train-trajectories K; default: all of them)
tt=(); [ -z "${TRAIN_TRAJECTORIES:-}" ] || tt=(--train-trajectories "$TRAIN_TRAJECTORIES")
DATA=${DATA:-data/mini}
RUNS=${RUNS:-runs/mini}
OUT=${OUT:-results/mini}
read -r -a seeds <<< "${SEEDS:-0 1 2}"
name_of() {  # model seed -> run name
  if [ "$2" -gt 0 ]; then echo "$1-decompose2-seed$2"; else echo "$1-decompose2"; fi
}
solvers=()
for seed in "${seeds[@]}"; do
  for model in li tsm-hippo; do
    name=$(name_of "$model" "$seed")
    /usr/bin/time -f "$name training wall-clock: %e s" \
      neuralpde train --model "$model" --preset mini --hidden 32 --unroll 8 --data "$DATA" --out "$RUNS/$name" "${tt[@]}" \
      --decompose 2 --seed "$seed" --no-progress
    solvers+=(--solver "run:$RUNS/$name")
  done
done
neuralpde evaluate --data "$DATA" --out "$OUT" --preset mini "${solvers[@]}"
for model in li tsm-hippo; do
  singles=()
  for seed in "${seeds[@]}"; do singles+=("$OUT/$(name_of "$model" "$seed")"); done
  group=$(IFS=,; echo "${singles[*]}")
  python experiments/paired_durations.py \
    --baseline "$OUT/$model,$OUT/$model-seed1,$OUT/$model-seed2" "$group" "${singles[@]}"
  python experiments/paired_durations.py --baseline "$OUT/weno5-z-32" "$group"
done
python benchmarks/tsm_latency.py --decompose 2
