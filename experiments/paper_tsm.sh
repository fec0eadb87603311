#!/usr/bin/env bash
# The published TSM protocol at full scale, for users with a GPU (not run in this repository's
# CI; no GPU was available when it was written, so it has NOT been smoke-tested on one).
#
#   PRESET=paper-lite bash experiments/paper_tsm.sh   # 64² from 1024², 16 + 16 trajectories
#   PRESET=paper      bash experiments/paper_tsm.sh   # 64² from 2048², 128 train trajectories
#
# Expected cost on one H100, ESTIMATED from the measured anchors in
# /work/shared/reference/anchors.md (finite volume: ~14.5 k sample-steps/s at 1024², batch 8;
# ~3.6 k at 2048², batch 4; 6x256 tower at 64²: 2.1 ms per forward pass of batch 16):
#   data   paper-lite: train 16 x 60 t.u. + test 16 x 60.9 t.u. at 1024²  ~ 5 min
#          paper:      train 128 x 120 t.u. at 2048²                        ~ 5.5 h (+ ~20 min test)
#   train  per model, paper training preset (50,000 updates, batch 64, unroll 32):
#          LI ~ 32 tower calls/update ~ 0.8 s/update -> ~11 h; TSM-HiPPO (bundle 4)
#          ~ 8 tower calls/update -> ~3 h.  Use --steps to shorten.
#   evaluate: minutes.
# Latency: python benchmarks/tsm_latency.py --preset paper
set -euo pipefail
PRESET=${PRESET:-paper-lite}
DATA=${DATA:-data/$PRESET}
RUNS=${RUNS:-runs/$PRESET}
OUT=${OUT:-results/$PRESET}
STEPS=${STEPS:-50000}
neuralpde generate --preset "$PRESET" --out "$DATA"
for model in li tsm-cnn tsm-hippo; do
  neuralpde train --model "$model" --preset paper --steps "$STEPS" --data "$DATA" --out "$RUNS/$model"
done
neuralpde evaluate --data "$DATA" --out "$OUT" --preset "$PRESET" \
  --solver dns --solver dns-128 --solver dns-256 --solver dns-512 --solver weno5-js --solver weno5-z \
  --solver "run:$RUNS/li" --solver "run:$RUNS/tsm-cnn" --solver "run:$RUNS/tsm-hippo"
neuralpde compare --results "$OUT" --times 0 2 4 8 16
python benchmarks/tsm_latency.py --preset paper
