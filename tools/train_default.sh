#!/bin/bash
# Reproduce models/tuban-rgb.onnx: tuban's Siamese network trained on every real RGB pair in
# shared/data/realcd (LEVIR-CD, WHU-CD, DSIFN-CD; see models/README.md for attribution).
# The hyper-parameters and the threshold are the ones cross-validated by tools/model_table.py
# (README, "Learned evidence"). Same seed, same weights.
#
# usage: tools/train_default.sh [DATA_DIR] [OUT.onnx]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
data="${1:-$here/../../shared/data/realcd}"
out="${2:-$here/../models/tuban-rgb.onnx}"
tuban="${TUBAN:-${CARGO_TARGET_DIR:-$here/../target}/release/tuban}"
[ -x "$tuban" ] || cargo build --release --manifest-path "$here/../Cargo.toml"
"$tuban" train \
  --pairs "$data/LEVIR-CD" --pairs "$data/WHU-CD" --pairs "$data/DSIFN-CD" \
  --out "$out" --epochs "${EPOCHS:-45}" --seed 1 --validation 0 --threshold "${THRESHOLD:-0.5}"
