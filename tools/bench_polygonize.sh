#!/usr/bin/env bash
# Polygonize one generated mask with tuban and with gdal_polygonize.py (-8, GPKG) in the same
# run; print both times and the ratio, and check that the outputs agree: the same number of
# polygons, the same multiset of areas, and how many geometries GEOS finds invalid in each.
#
# usage: tools/bench_polygonize.sh [SIZE=16384] [WORKDIR=/tmp/tuban-bench]
set -euo pipefail
size=${1:-16384}
work=${2:-/tmp/tuban-bench}
here=$(cd "$(dirname "$0")" && pwd)
target=${CARGO_TARGET_DIR:-$here/../target}
tuban=$target/release/tuban
[ -x "$tuban" ] || (cd "$here/.." && cargo build --release --quiet)
mkdir -p "$work"
mask=$work/mask-$size.tif
[ -f "$mask" ] || "$here/make_mask.py" "$size" "$mask"
rm -f "$work/tuban.gpkg" "$work/gdal.gpkg"
now() { date +%s.%N; }
t0=$(now)
"$tuban" polygonize --mask "$mask" --out "$work/tuban.gpkg" >/dev/null
t1=$(now)
gdal_polygonize.py -q -8 "$mask" -mask "$mask" -f GPKG "$work/gdal.gpkg" changes value
t2=$(now)
/usr/bin/python3 - "$work" "$t0" "$t1" "$t2" "$size" <<'PY'
import sys
from osgeo import gdal, ogr
gdal.PushErrorHandler("CPLQuietErrorHandler")
w, t0, t1, t2, size = sys.argv[1], *map(float, sys.argv[2:5]), int(sys.argv[5])
def load(path):
    ds = ogr.Open(path)
    lyr = ds.GetLayer(0)
    areas, invalid = [], 0
    for f in lyr:
        g = f.GetGeometryRef()
        areas.append(round(g.GetArea() / 0.64))  # in pixels (0.8 m x 0.8 m)
        if not g.IsValid():
            invalid += 1
    return sorted(areas), invalid
ta, ti = load(f"{w}/tuban.gpkg")
ga, gi = load(f"{w}/gdal.gpkg")
tt, tg = t1 - t0, t2 - t1
print(f"mask {size}x{size}: tuban {len(ta)} polygons ({ti} invalid), gdal_polygonize {len(ga)} polygons ({gi} invalid, {100*gi/max(len(ga),1):.1f} %)")
print(f"same polygon count: {len(ta) == len(ga)}; same areas: {ta == ga}")
print(f"tuban polygonize: {tt:.2f} s; gdal_polygonize.py -8: {tg:.2f} s; ratio {tg/tt:.1f}x")
PY
