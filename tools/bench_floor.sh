#!/usr/bin/env bash
# Speed against the decode floor and the GDAL command-line chain, measured in one run on the
# same files, printed side by side as ratios (absolute seconds on shared machines are noisy):
#
#   floor (county)   every block of the synth county's before.tif and after.tif read once
#                    (io_floor.py decode, full-width strips, all threads)
#   tuban default    `tuban detect` with defaults on that county (evidence, mask, typed polygons)
#   floor (peer)     the same for the peer scene (make_scene.py --seed 77)
#   tuban chain job  `tuban detect --evidence cva --threshold 500 --no-normalize --open 0
#                    --close 0 --join 0 --min-area-mu 5` on the peer scene: the GDAL chain's own
#                    job (raw change-vector magnitude over a fixed threshold, polygons of 5 mu)
#   chain untyped    the same with --no-classify: the chain's job exactly (polygons, no types)
#   GDAL chain       gdal_calc > 500, gdal_sieve, gdal_polygonize, ogr2ogr (gdal_chain.sh)
#
# and the pixel IoU of tuban's mask with the chain's calc output (before sieving).
#
# usage: tools/bench_floor.sh [SIZE=4096] [WORKDIR=/tmp/tuban-floor]
# Needs the peer harness of the shared folder (BENCH=../shared/bench by default): make_scene.py,
# gdal_chain.sh, io_floor.py; GDAL command-line tools and python3-gdal (tools/setup.sh).
set -euo pipefail
size=${1:-4096}
work=${2:-/tmp/tuban-floor}
here=$(cd "$(dirname "$0")" && pwd)
bench=${BENCH:-$here/../../shared/bench}
target=${CARGO_TARGET_DIR:-$here/../target}
tuban=$target/release/tuban
for f in make_scene.py gdal_chain.sh io_floor.py; do
  [ -f "$bench/$f" ] || { echo "bench_floor.sh: $bench/$f not found (set BENCH=DIR)" >&2; exit 2; }
done
(cd "$here/.." && cargo build --release --quiet)
mkdir -p "$work"
county=$work/county-$size
peer=$work/peer-$size
[ -f "$county/after.tif" ] || "$tuban" synth --size "$size" --seed 1 --out "$county" >/dev/null
[ -f "$peer/after.tif" ] || /usr/bin/python3 "$bench/make_scene.py" --size "$size" --seed 77 "$peer" 2>/dev/null

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN {printf "%.2f", b - a}'; }
floor() {
  /usr/bin/python3 "$bench/io_floor.py" decode "$1" | awk -F'\t' '$1 == "strips-mt" && $2 == "both" {print $4}'
}

floor_county=$(floor "$county")
rm -rf "$work/default"
t=$(now)
"$tuban" detect --before "$county/before.tif" --after "$county/after.tif" --out "$work/default" --backend cpu >"$work/default.log"
default_s=$(since "$t")

floor_peer=$(floor "$peer")
rm -rf "$work/chainjob"
t=$(now)
"$tuban" detect --before "$peer/before.tif" --after "$peer/after.tif" --out "$work/chainjob" --backend cpu \
  --evidence cva --threshold 500 --no-normalize --open 0 --close 0 --join 0 --min-area-mu 5 \
  >"$work/chainjob.log"
chainjob_s=$(since "$t")

rm -rf "$work/untyped"
t=$(now)
"$tuban" detect --before "$peer/before.tif" --after "$peer/after.tif" --out "$work/untyped" --backend cpu \
  --evidence cva --threshold 500 --no-normalize --open 0 --close 0 --join 0 --min-area-mu 5 \
  --no-classify >"$work/untyped.log"
untyped_s=$(since "$t")

t=$(now)
bash "$bench/gdal_chain.sh" "$peer" "$work/gdal" >"$work/gdal.log"
gdal_s=$(since "$t")

iou=$("$tuban" eval --pred "$work/chainjob/change.tif" --truth "$work/gdal/mask.tif" --json |
  /usr/bin/python3 -c 'import json, sys; print("%.4f" % json.load(sys.stdin)["pixel"]["iou"])')

mpx=$(awk -v s="$size" 'BEGIN {print s * s / 1e6}')
row() { awk -v n="$1" -v s="$2" -v f="$3" -v m="$mpx" 'BEGIN {printf "%-16s %8.2f s %8.1f Mpx/s %8.2f x floor\n", n, s, m / s, f / s}'; }
echo "scene ${size}x${size} px; ratios measured in this run"
row "floor (county)" "$floor_county" "$floor_county"
row "tuban default" "$default_s" "$floor_county"
row "floor (peer)" "$floor_peer" "$floor_peer"
row "tuban chain job" "$chainjob_s" "$floor_peer"
row "chain untyped" "$untyped_s" "$floor_peer"
row "GDAL chain" "$gdal_s" "$floor_peer"
awk -v a="$gdal_s" -v b="$chainjob_s" 'BEGIN {printf "tuban chain job vs GDAL chain: %.2f x faster\n", a / b}'
awk -v a="$gdal_s" -v b="$untyped_s" 'BEGIN {printf "tuban chain job untyped vs GDAL chain: %.2f x faster\n", a / b}'
echo "mask IoU (tuban chain job vs gdal_calc output): $iou"
grep -h "busy seconds" "$work/default.log" | sed 's/^/default: /'
grep -h "busy seconds" "$work/chainjob.log" | sed 's/^/chain job: /'
