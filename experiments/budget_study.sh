#!/usr/bin/env bash
# Measured at the former mini training recipe (4 x 32 tower, 8-step unroll), pinned below with
# --hidden 32 --unroll 8: the mini preset is now the 4 x 64 tower with a 16-step unroll that
# this study chose (experiments/mini_recipe.sh trains it with three seeds).
# Training-budget study on mini: how the duration and the cost of a learned solver move when
# one axis of the mini recipe changes at a time (optimiser updates, tower width and depth,
# unroll length, TSM bundle size).  The base point is the former mini recipe (4 x 32 tower,
# 1,000 updates of batch 8, 8-step unroll; TSM: 32-frame prefix, bundle 4, LegT memory of
# order 8 over 16 frames), seed 0, so every point is one seed.
#
# Each point is trained, then evaluated on data/mini's test split (32 trajectories) as soon
# as it is trained.  The script is resumable: a point whose run is complete is not trained
# again (`neuralpde train` on the same folder resumes from its last checkpoint), and a point
# already evaluated is not evaluated again.  The training wall-clock of every invocation is
# appended to $OUT/<point>.time, so a run split over several stops sums its pieces (a piece
# killed with the session is not recorded).  A point whose training fails is reported and
# skipped; the others go on.
#
# POINTS lists the points to run, in order; each is NAME=ARGS (ARGS: `neuralpde train`
# options, commas for spaces), default: the TSM-HiPPO axes below.  At the end the script
# prints one table (duration, per-sample mean ± s.e., latency, training wall-clock, paired
# difference to the base point) with experiments/budget_table.py.
#
#   bash experiments/budget_study.sh                       # the default TSM-HiPPO axes
#   POINTS="li-base=--model,li li-s3000=--model,li,--steps,3000" bash experiments/budget_study.sh
set -euo pipefail
DATA=${DATA:-data/mini}
RUNS=${RUNS:-runs/budget}
OUT=${OUT:-results/budget}
BASE=${BASE:-tsm-hippo-base}
default_points="tsm-hippo-base=--model,tsm-hippo
tsm-hippo-unroll16=--model,tsm-hippo,--unroll,16
tsm-hippo-hidden64=--model,tsm-hippo,--hidden,64
tsm-hippo-steps3000=--model,tsm-hippo,--steps,3000
tsm-hippo-bundle8=--model,tsm-hippo,--bundle,8
tsm-hippo-bundle2=--model,tsm-hippo,--bundle,2
tsm-hippo-unroll4=--model,tsm-hippo,--unroll,4
tsm-hippo-depth6=--model,tsm-hippo,--depth,6
tsm-hippo-steps10000=--model,tsm-hippo,--steps,10000"
read -r -d '' -a points <<< "${POINTS:-$default_points}" || true
mkdir -p "$RUNS" "$OUT"
neuralpde generate --preset mini --out "$DATA"  # a no-op once the data exist
names=()
for point in "${points[@]}"; do
  name=${point%%=*}
  IFS=, read -r -a args <<< "${point#*=}"
  names+=("$name")
  if [ ! -f "$OUT/$name/summary.json" ]; then
    if ! /usr/bin/time -a -o "$OUT/$name.time" -f "%e" \
      neuralpde train --preset mini --hidden 32 --unroll 8 --data "$DATA" --out "$RUNS/$name" --seed 0 --no-progress \
      "${args[@]}"; then
      echo "$name: training failed (its message is above); the study goes on without it" >&2
      continue
    fi
    echo "$name: ${point#*=}" > "$OUT/$name.args"
    neuralpde evaluate --data "$DATA" --out "$OUT" --preset mini --solver "run:$RUNS/$name"
  fi
done
python experiments/budget_table.py --results "$OUT" --runs "$RUNS" --base "$BASE" "${names[@]}"
