#!/usr/bin/env bash
# Measured at the former mini training recipe (4 x 32 tower, 8-step unroll), pinned below with
# --hidden 32 --unroll 8: the mini preset is now the 4 x 64 tower with a 16-step unroll that
# experiments/budget_study.sh chose (experiments/mini_recipe.sh trains it with three seeds).
# Data learning curve on mini: LI and TSM-HiPPO duration against the number of training
# trajectories (16 time units each, saved every model step) at the fixed mini update budget
# (1,000 updates of batch 8, 8 unrolled steps), --train-trajectories K taking the first K
# trajectories of data/mini's train store.  K = 8 is the mini set itself (runs/mini/{li,
# tsm-hippo} and their seeds 1-2: experiments/mini_li.sh, mini_tsm.sh, mini_seeds.sh); this
# script trains the smaller points.  Evaluation on the 8 mini test trajectories; paired
# differences against the same model trained on the whole mini set (its 3 seeds averaged),
# WENO5-Z and DNS-64.  POINTS (default "4 1") lists the K's to train, in order; SEEDS (default
# "0") the seeds of each point (seed s > 0 runs are named <model>-t<K>-seed<s>).  A K larger
# than data/mini's train store needs a larger one: data/mini-t<K> gets a train store generated
# with --samples K (its first trajectories are data/mini's, checked) and links data/mini's
# validation and test stores.
set -euo pipefail
DATA=${DATA:-data/mini}
RUNS=${RUNS:-runs/curve}
OUT=${OUT:-results/curve}
MINI=${MINI:-results/mini}
read -r -a points <<< "${POINTS:-4 1}"
read -r -a seeds <<< "${SEEDS:-0}"
read -r -a models <<< "${MODELS:-li tsm-hippo}"
name_of() {  # model K seed -> run name
  if [ "$3" -gt 0 ]; then echo "$1-t$2-seed$3"; else echo "$1-t$2"; fi
}
held=$(python -c "import sys; from neuralpde.store import open_store; print(open_store(sys.argv[1]).sizes['sample'])" \
  "$DATA/train.zarr")
for k in "${points[@]}"; do  # each point evaluated as soon as it is trained
  data=$DATA
  if [ "$k" -gt "$held" ]; then  # a larger train store, same validation and test
    data=$DATA-t$k
    mkdir -p "$data"
    for split in validation test; do
      [ -e "$data/$split.zarr" ] || ln -s "$(realpath "$DATA/$split.zarr")" "$data/$split.zarr"
    done
    /usr/bin/time -f "train --samples $k generation wall-clock: %e s" \
      neuralpde generate --preset mini --out "$data" --split train --samples "$k" --no-progress
    python experiments/same_trajectories.py "$DATA" "$data" --splits train
  fi
  solvers=()
  for seed in "${seeds[@]}"; do
    for model in "${models[@]}"; do
      name=$(name_of "$model" "$k" "$seed")
      /usr/bin/time -f "$name training wall-clock: %e s" \
        neuralpde train --model "$model" --preset mini --hidden 32 --unroll 8 --data "$data" --out "$RUNS/$name" \
        --train-trajectories "$k" --seed "$seed" --no-progress
      solvers+=(--solver "run:$RUNS/$name")
    done
  done
  neuralpde evaluate --data "$DATA" --out "$OUT" --preset mini "${solvers[@]}"
done
group_of() {  # model K -> the point's seeds, averaged per test trajectory by paired_durations
  local group="" seed
  for seed in "${seeds[@]}"; do group+="${group:+,}$OUT/$(name_of "$1" "$2" "$seed")"; done
  echo "$group"
}
for model in "${models[@]}"; do  # against the same model on the whole mini set, seed-averaged
  rows=()
  for k in "${points[@]}"; do rows+=("$(group_of "$model" "$k")"); done
  python experiments/paired_durations.py \
    --baseline "$MINI/$model,$MINI/$model-seed1,$MINI/$model-seed2" "${rows[@]}"
done
all=()
for k in "${points[@]}"; do for model in "${models[@]}"; do all+=("$(group_of "$model" "$k")"); done; done
for baseline in "$MINI/weno5-z-32" "$MINI/dns-64"; do
  python experiments/paired_durations.py --baseline "$baseline" "${all[@]}"
done
