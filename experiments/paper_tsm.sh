#!/usr/bin/env bash
# The published TSM protocol at full scale, for users with a GPU (not run in this repository's
# CI; no GPU was available when it was written, so it has NOT been smoke-tested on one).
#
#   PRESET=paper-lite bash experiments/paper_tsm.sh   # 64² from 1024², 16 + 16 trajectories
#   PRESET=paper      bash experiments/paper_tsm.sh   # 64² from 2048², 128 train trajectories
#
# Before launching: `neuralpde plan --preset paper --devices N` prints each step's memory per
# device, FLOPs and a roofline lower bound of the time on common GPUs (docs/scaling.md), and
# `python experiments/gpu_check.py` measures generation, a DNS study, the paper training
# update and TSM/LI latency on the GPU at hand in under 10 minutes.  The paper training
# preset rematerialises its 32 unrolled steps (--remat, on by default there).
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
