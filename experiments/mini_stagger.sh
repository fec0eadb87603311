#!/usr/bin/env bash
# The staggered sub-solvers on the mini fair comparison: every set trained at the mini budget
# and scored by the one pipeline (`neuralpde evaluate`, 32 test trajectories, latency batch 1),
# then `neuralpde compare` puts them on the fair-comparison table beside the classical ladders
# that experiments/mini_dns_study.sh evaluated into the same results folder.
#
# Sets (s, s_T, weights): the faithful decompositions (1,1), (2,1), (2,2), (4,1) with one shared
# tower over the sub-tasks, and the `joint` variant at (2,2) and (4,1) (one coarse tower whose
# output channels are all s² sub-tasks).  Training: the physics-constrained loss (no simulation
# data; `neuralpde stagger-train`'s mini preset: 4 x 32 tower, 1,000 updates of batch 8,
# quadratic inputs, projected output), validation on data/mini's validation
# split picking the best checkpoint; seed 0, so every row is one seed.  Resumable: a trained
# run is resumed (a no-op when complete), an evaluated set is not evaluated again.
set -euo pipefail
DATA=${DATA:-data/mini}
RUNS=${RUNS:-runs/stagger}
OUT=${OUT:-results/mini}
sets=${SETS:-"1,1,shared 2,1,shared 2,2,shared 4,1,shared 2,2,joint 4,1,joint"}
neuralpde generate --preset mini --out "$DATA"  # a no-op once the data exist
solvers=()
for set in $sets; do
  IFS=, read -r s t weights <<< "$set"
  name=stagger-s${s}t${t}-$weights
  /usr/bin/time -f "$name training wall-clock: %e s" \
    neuralpde stagger-train --preset mini --data "$DATA" --out "$RUNS/$name" --s "$s" \
    --s-time "$t" --weights "$weights" --seed 0 --no-progress
  [ -f "$OUT/$name/summary.json" ] || solvers+=(--solver "run:$RUNS/$name")
done
[ ${#solvers[@]} -eq 0 ] || neuralpde evaluate --data "$DATA" --out "$OUT" --preset mini "${solvers[@]}"
# one sub-solver alone (s > 1, shared weights: the sub-field (s-1, s-1) on (32/s)², scored
# against the same sub-field of the reference): its latency is what each of the s² s_T
# sub-solvers would cost on hardware that runs them side by side
alone=()
for set in $sets; do
  IFS=, read -r s t weights <<< "$set"
  [ "$s" -gt 1 ] && [ "$weights" = shared ] || continue
  [ -f "${OUT}-stagger-coarse/stagger-s${s}t${t}-$weights-sub$((s - 1))$((s - 1))-$((32 / s))/summary.json" ] ||
    alone+=(--solver "run:$RUNS/stagger-s${s}t${t}-$weights#coarse")
done
[ ${#alone[@]} -eq 0 ] || neuralpde evaluate --data "$DATA" --out "${OUT}-stagger-coarse" --preset mini "${alone[@]}"
neuralpde compare --results "$OUT" --times 0 1 2 4 8
for baseline in "$OUT/dns-32" "$OUT/weno5-z-32"; do
  python experiments/paired_durations.py --baseline "$baseline" \
    $(for set in $sets; do IFS=, read -r s t w <<< "$set"; echo "$OUT/stagger-s${s}t${t}-$w"; done)
done
