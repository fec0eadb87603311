#!/usr/bin/env bash
# The mini recipe with three seeds: LI, TSM-HiPPO and TSM-CNN, seeds 0, 1 and 2, trained with
# the mini training preset (4 x 64 tower, 1,000 updates of batch 8, 16-step unroll; TSM:
# 32-frame prefix, bundle 4, LegT memory of order 8 over 16 frames: the width and unroll the
# training-budget study chose, experiments/budget_study.sh), each evaluated on data/mini's
# 32 test trajectories as soon as it is trained.  Seed 0 goes to $RUNS/<model>, seed k to
# $RUNS/<model>-seed<k>; results to $OUT under the same names.
#
# Resumable: a run already complete is not trained again (train resumes from its last
# checkpoint), a run already evaluated is not evaluated again.  The training wall-clock of
# every invocation is appended to $OUT/<name>.time (a piece killed with the session is not
# recorded).  At the end, experiments/recipe_table.py: every seed's duration, the seeds' mean,
# and the paired per-trajectory differences of the seed-averaged models against the strongest
# classical rows (WENO5-Z-32, spectral-48, DNS-64) and against the former recipe ($OLD: 4 x 32
# tower, 8-step unroll, seed 0) where it is there.
#
#   bash experiments/mini_recipe.sh                     # all 9 runs
#   MODELS="li" SEEDS="0" bash experiments/mini_recipe.sh
# Needs data/mini (experiments/mini_dns_study.sh makes it with the classical results).
set -euo pipefail
DATA=${DATA:-data/mini}
RUNS=${RUNS:-runs/mini}
OUT=${OUT:-results/mini}
OLD=${OLD:-results/mini-recipe1k}
read -r -a models <<< "${MODELS:-li tsm-hippo tsm-cnn}"
read -r -a seeds <<< "${SEEDS:-0 1 2}"
read -r -a recipe <<< "${RECIPE:-}"  # extra train options (default: none, the mini preset)
neuralpde generate --preset mini --out "$DATA"  # a no-op once the data exist
mkdir -p "$OUT"
for seed in "${seeds[@]}"; do
  for model in "${models[@]}"; do
    name=$model; [ "$seed" = 0 ] || name=$model-seed$seed
    if [ -f "$OUT/$name/summary.json" ]; then continue; fi
    if ! /usr/bin/time -a -o "$OUT/$name.time" -f "%e" \
      neuralpde train --model "$model" --preset mini --data "$DATA" --out "$RUNS/$name" \
      --seed "$seed" --no-progress "${recipe[@]}"; then
      echo "$name: training failed (its message is above); the study goes on without it" >&2
      continue
    fi
    neuralpde evaluate --data "$DATA" --out "$OUT" --preset mini --solver "run:$RUNS/$name"
  done
done
python experiments/recipe_table.py --results "$OUT" --models "${models[@]}" --seeds "${seeds[@]}" \
  --baseline "WENO5-Z-32=$OUT/weno5-z-32" --baseline "spectral-48=$OUT/spectral-48" \
  --baseline "DNS-64=$OUT/dns-64" --baseline "former recipe, seed 0=$OLD/{model}"
