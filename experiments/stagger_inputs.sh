#!/usr/bin/env bash
# Staggered sub-solvers (physics loss only, mini flow on 32², 1200 updates of a 4 x 32 tower, the
# budget of experiments/stagger_study.py): what the sub-solver network is given and what it must
# represent. Four variants of one (s, s_T) set, same seed:
#   plain              the velocity view and the forcing only (the mini preset before 2026-12-01)
#   quadratic          + the products u^2, uv, v^2 of every cell (--quadratic-input)
#   project            the rebuilt fine frames pressure-projected (--project)
#   quadratic-project  both (the mini preset's default since 2026-12-01)
# then each is evaluated on the 8 mini test trajectories over 4 time units beside DNS-32 and
# paired per trajectory against DNS-32 and against the plain variant.
#   S=1 ST=1 bash experiments/stagger_inputs.sh        (S=2 ST=1, ... for the decompositions)
#   S=2 ST=1 VARIANTS="plain quadratic-project" bash experiments/stagger_inputs.sh   (a subset)
set -euo pipefail
DATA=${DATA:-data/mini}
S=${S:-1}
ST=${ST:-1}
STEPS=${STEPS:-1200}
RUNS=${RUNS:-runs/stagger_inputs}
OUT=${OUT:-results/stagger_inputs}
read -r -a variants <<< "${VARIANTS:-plain quadratic project quadratic-project}"
solvers=(--solver dns)
for variant in "${variants[@]}"; do
  flags=(--no-quadratic-input --no-project)  # later flags win
  [[ $variant == *quadratic* ]] && flags+=(--quadratic-input)
  [[ $variant == *project* ]] && flags+=(--project)
  run="$RUNS/s${S}t${ST}-$variant"
  /usr/bin/time -f "s${S}t${ST}-$variant training wall-clock: %e s" \
    neuralpde stagger-train --s "$S" --s-time "$ST" --hidden 32 --depth 4 --batch-size 8 \
    --steps "$STEPS" --warmup-time 5 "${flags[@]}" --out "$run" --no-progress
  solvers+=(--solver "run:$run")
done
neuralpde evaluate --data "$DATA" --out "$OUT" --horizon 4 "${solvers[@]}"
names=()
for variant in "${variants[@]}"; do names+=("$OUT/s${S}t${ST}-$variant"); done
python experiments/paired_durations.py --baseline "$OUT/dns-32" "${names[@]}"
python experiments/paired_durations.py --baseline "${names[0]}" "${names[@]:1}"
# training residual: mean (P R)^2 over the first logged update and over the last 20 % of updates
python - "$STEPS" "${variants[@]/#/$RUNS/s${S}t${ST}-}" <<'PY'
import json, sys
steps = int(sys.argv[1])
for run in sys.argv[2:]:
    rows = [json.loads(line) for line in open(f"{run}/metrics.jsonl") if '"residual"' in line]
    tail = [r["residual"] for r in rows if r["step"] > 0.8 * steps]
    print(f"{run}: residual {rows[0]['residual']:.3f} -> {sum(tail) / len(tail):.4f} (last 20 %)")
PY
