#!/bin/bash
# Overlay speed and memory: M change polygons against an N x N DLTB lattice plus basic farmland,
# red line, approvals and counties (tools/make_overlay_data.py), through `tuban overlay`.
# usage: tools/bench_overlay.sh [N=1000] [M=100000] [DIR=/tmp/tuban-overlay-bench]
set -euo pipefail
N=${1:-1000}; M=${2:-100000}; DIR=${3:-/tmp/tuban-overlay-bench}
cd "$(dirname "$0")/.."
cargo build --release --quiet
BIN=${CARGO_TARGET_DIR:-target}/release/tuban
if [ ! -f "$DIR/job.toml" ] || [ "$(cat "$DIR/.size" 2>/dev/null)" != "$N $M" ]; then
  rm -rf "$DIR"
  /usr/bin/python3 tools/make_overlay_data.py "$DIR" "$N" "$M"
  echo "$N $M" > "$DIR/.size"
fi
/usr/bin/time -f "wall %e s, peak RSS %M KB" "$BIN" overlay --changes "$DIR/changes.gpkg" \
  --job "$DIR/job.toml" --out "$DIR/leads.gpkg"
