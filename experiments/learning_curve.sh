#!/usr/bin/env bash
# Data learning curve on mini: LI and TSM-HiPPO duration against the number of training
# trajectories (16 time units each, saved every model step) at the fixed mini update budget
# (1,000 updates of batch 8, 8 unrolled steps; seed 0), --train-trajectories K taking the
# first K trajectories of the train store.  K = 4 is the mini set itself (runs/mini/{li,
# tsm-hippo} and their seeds 1-2, experiments/mini_li.sh, mini_tsm.sh, mini_seeds.sh); K = 8
# needs a larger train store: data/mini-t8 holds train.zarr generated with --samples 8 (its
# first 4 trajectories are data/mini's, checked below) and links data/mini's validation and
# test stores.  Evaluation on the 8 mini test trajectories; paired differences against the
# same model trained on the 4-trajectory mini set (its 3 seeds averaged), WENO5-Z and DNS-64.
# POINTS (default "8 1") lists the K's to train, in order (POINTS=2 adds the K = 2 point).
set -euo pipefail
DATA=${DATA:-data/mini}
BIG=${BIG:-data/mini-t8}
RUNS=${RUNS:-runs/curve}
OUT=${OUT:-results/curve}
MINI=${MINI:-results/mini}
read -r -a points <<< "${POINTS:-8 1}"
read -r -a models <<< "${MODELS:-li tsm-hippo}"
mkdir -p "$BIG"
for split in validation test; do
  [ -e "$BIG/$split.zarr" ] || ln -s "$(realpath "$DATA/$split.zarr")" "$BIG/$split.zarr"
done
/usr/bin/time -f "train --samples 8 generation wall-clock: %e s" \
  neuralpde generate --preset mini --out "$BIG" --split train --samples 8 --no-progress
python experiments/same_trajectories.py "$DATA" "$BIG" --splits train
for k in "${points[@]}"; do  # each point evaluated as soon as it is trained
  data=$DATA
  [ "$k" -gt 4 ] && data=$BIG
  solvers=()
  for model in "${models[@]}"; do
    /usr/bin/time -f "$model K=$k training wall-clock: %e s" \
      neuralpde train --model "$model" --preset mini --data "$data" --out "$RUNS/$model-t$k" \
      --train-trajectories "$k" --no-progress
    solvers+=(--solver "run:$RUNS/$model-t$k")
  done
  neuralpde evaluate --data "$DATA" --out "$OUT" --preset mini "${solvers[@]}"
done
for model in "${models[@]}"; do  # against the same model on the mini set, seed-averaged
  rows=()
  for k in "${points[@]}"; do rows+=("$OUT/$model-t$k"); done
  python experiments/paired_durations.py \
    --baseline "$MINI/$model,$MINI/$model-seed1,$MINI/$model-seed2" "${rows[@]}"
done
all=()
for k in "${points[@]}"; do for model in "${models[@]}"; do all+=("$OUT/$model-t$k"); done; done
for baseline in "$MINI/weno5-z-32" "$MINI/dns-64"; do
  python experiments/paired_durations.py --baseline "$baseline" "${all[@]}"
done
