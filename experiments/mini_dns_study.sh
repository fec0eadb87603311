#!/usr/bin/env bash
# The fair comparison on the mini preset (CPU): every classical family's resolution ladder
# against the pseudo-spectral 256² reference, 32 test trajectories, 12 time units:
#   FV DNS (van Leer) 32², 64², 128², 256²; pseudo-spectral 32², 48², 64², 128²;
#   WENO5-JS 32²; WENO5-Z 32², 64²;
# and the shipped pretrained models (pretrained:li-mini, pretrained:tsm-hippo-mini,
# pretrained:tsm-cnn-mini: the seed-0 runs of the mini recipe on these data).
# Prints the comparison table (with the equal-accuracy / equal-cost columns of every
# family) and the per-trajectory paired differences against the cheapest spectral rungs;
# writes results/mini/{comparison.md,comparison.csv,figures/}.
set -euo pipefail
DATA=${DATA:-data/mini}
OUT=${OUT:-results/mini}
neuralpde generate --preset mini --out "$DATA"
neuralpde evaluate --data "$DATA" --out "$OUT" --preset mini \
  --solver dns --solver dns-64 --solver dns-128 --solver dns-256 \
  --solver spectral --solver spectral-48 --solver spectral-64 --solver spectral-128 \
  --solver weno5-js --solver weno5-z --solver weno5-z-64 \
  --solver pretrained:li-mini --solver pretrained:tsm-hippo-mini --solver pretrained:tsm-cnn-mini
neuralpde compare --results "$OUT" --times 0 1 2 4 8
for base in spectral-32 spectral-48 weno5-z-32; do
  python experiments/paired_durations.py --baseline "$OUT/$base" \
    "$OUT"/dns-32 "$OUT"/dns-64 "$OUT"/dns-128 "$OUT"/weno5-z-32 \
    "$OUT"/pretrained-li-mini "$OUT"/pretrained-tsm-hippo-mini "$OUT"/pretrained-tsm-cnn-mini
done
