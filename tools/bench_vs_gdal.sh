#!/usr/bin/env bash
# End-to-end speed of `tuban detect --backend cpu` against the GDAL command-line chain doing the
# same change-vector magnitude and threshold (gdal_calc.py with NUM_THREADS=ALL_CPUS), on one
# generated 4-band uint16 scene, with the same compressed tiled GeoTIFF outputs. Prints the
# times and the ratio measured in this run, and checks that the two masks agree.
#
# usage: tools/bench_vs_gdal.sh [SIZE=8192] [WORKDIR=/tmp/tuban-bench] [INPUT_COMPRESSION=ZSTD]
set -euo pipefail
size=${1:-8192}
work=${2:-/tmp/tuban-bench}
compress=${3:-ZSTD}
here=$(cd "$(dirname "$0")" && pwd)
target=${CARGO_TARGET_DIR:-$here/../target}
tuban=$target/release/tuban
threshold=400
[ -x "$tuban" ] || (cd "$here/.." && cargo build --release --quiet)
mkdir -p "$work"
scene=$work/scene-$size-$compress
[ -f "$scene/after.tif" ] || "$here/make_scene.py" "$size" "$scene" --compress "$compress"
co=(--co TILED=YES --co BLOCKXSIZE=512 --co BLOCKYSIZE=512 --co COMPRESS=ZSTD --co ZSTD_LEVEL=1 --co BIGTIFF=IF_SAFER --co NUM_THREADS=ALL_CPUS)

now() { date +%s.%N; }

rm -rf "$work/tuban" "$work/gdal" && mkdir -p "$work/gdal"
t0=$(now)
"$tuban" detect --before "$scene/before.tif" --after "$scene/after.tif" --out "$work/tuban" \
  --backend cpu --evidence cva --no-normalize --threshold $threshold --open 0 --close 0 --no-polygons >/dev/null
t1=$(now)
export GDAL_NUM_THREADS=ALL_CPUS
gdal_calc.py --quiet --overwrite --type=Float32 "${co[@]}" \
  -A "$scene/before.tif" --A_band=1 -B "$scene/before.tif" --B_band=2 \
  -C "$scene/before.tif" --C_band=3 -D "$scene/before.tif" --D_band=4 \
  -E "$scene/after.tif" --E_band=1 -F "$scene/after.tif" --F_band=2 \
  -G "$scene/after.tif" --G_band=3 -H "$scene/after.tif" --H_band=4 \
  --calc="sqrt((float32(E)-A)**2+(float32(F)-B)**2+(float32(G)-C)**2+(float32(H)-D)**2)" \
  --outfile="$work/gdal/evidence.tif"
gdal_calc.py --quiet --overwrite --type=Byte "${co[@]}" -A "$work/gdal/evidence.tif" \
  --calc="A>$threshold" --outfile="$work/gdal/change.tif"
t2=$(now)
"$tuban" detect --before "$scene/before.tif" --after "$scene/after.tif" --out "$work/tuban-default" \
  --backend cpu >/dev/null
t3=$(now)

/usr/bin/python3 - "$work" <<'PY'
import sys
from osgeo import gdal
w = sys.argv[1]
a = gdal.Open(f"{w}/tuban/change.tif").ReadAsArray()
b = gdal.Open(f"{w}/gdal/change.tif").ReadAsArray()
diff = int(((a == 1) != (b == 1)).sum())
print(f"mask pixels that differ between tuban and gdal_calc: {diff} of {a.size}")
PY
awk -v comp="$compress" -v s="$size" -v a="$t0" -v b="$t1" -v c="$t2" -v d="$t3" 'BEGIN {
  tt = b - a; tg = c - b; td = d - c; mpx = s * s / 1e6;
  printf "scene %dx%d, 4 bands uint16 (%.0f Mpx), inputs %s-compressed\n", s, s, mpx, comp;
  printf "tuban detect (cva + threshold, cpu): %7.2f s  %6.1f Mpx/s\n", tt, mpx / tt;
  printf "gdal_calc.py chain (same work):      %7.2f s  %6.1f Mpx/s\n", tg, mpx / tg;
  printf "ratio gdal / tuban:                  %7.1fx\n", tg / tt;
  printf "tuban default pipeline (normalise, building index, Otsu, open/close): %.2f s %.1f Mpx/s\n", td, mpx / td;
}'
