#!/bin/bash
# Reproduce tuban's shipped models from every real RGB pair in shared/data/realcd (LEVIR-CD,
# WHU-CD, DSIFN-CD; see models/README.md for attribution), laid out as tools/cv_folds.py lays
# out the cross-validation (WHU-CD's 1024² tile as four 512² pairs), with the settings and
# threshold cross-validated by tools/model_table.py (README, "Learned evidence"). Same seed,
# same model.
#
#   trees (default): models/tuban-rgb-trees.toml, the pixel trees `--evidence auto` runs on
#                    RGB imagery (built into the binary)
#   net:             models/tuban-rgb.onnx, the Siamese network
#
# usage: tools/train_default.sh [trees|net] [DATA_DIR] [OUT]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
kind="${1:-trees}"
data="${2:-$here/../../shared/data/realcd}"
tuban="${TUBAN:-${CARGO_TARGET_DIR:-$here/../target}/release/tuban}"
[ -x "$tuban" ] || cargo build --release --manifest-path "$here/../Cargo.toml"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
/usr/bin/python3 "$here/cv_folds.py" --data "$data" --out "$work" --folds 1
pairs=()
for d in LEVIR-CD WHU-CD DSIFN-CD; do pairs+=(--pairs "$work/fold0/test/$d"); done
case "$kind" in
  trees)
    "$tuban" train "${pairs[@]}" --out "${3:-$here/../models/tuban-rgb-trees.toml}" \
      --seed 1 --validation 0 --threshold "${THRESHOLD:-0.2}" --blend "${BLEND:-mbi:0.5:0.8}" ;;
  net)
    "$tuban" train "${pairs[@]}" --out "${3:-$here/../models/tuban-rgb.onnx}" \
      --epochs "${EPOCHS:-45}" --seed 1 --validation 0 --threshold "${THRESHOLD:-0.5}" ;;
  *) echo "usage: $0 [trees|net] [DATA_DIR] [OUT]" >&2; exit 2 ;;
esac
