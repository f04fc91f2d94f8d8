#!/usr/bin/python3
"""Generate a uint8 0/1 change mask for polygonization benchmarks: one random shape per 52-px
cell (rectangles, rings with holes and islands, diagonal staircases, one-pixel lines) plus
speckle, so about SIZE^2 / 2700 components with every topology case. Tiled ZSTD GeoTIFF,
EPSG:4527 at 0.8 m. Written in strips (bounded memory).

usage: tools/make_mask.py SIZE OUT.tif [--seed N]
"""
import argparse
import numpy as np
from osgeo import gdal, osr

gdal.UseExceptions()
CELL = 52


def cell_shape(rng):
    m = np.zeros((CELL, CELL), np.uint8)
    kind = rng.integers(0, 5)
    x0, y0 = rng.integers(2, 12, size=2)
    w, h = rng.integers(8, 36, size=2)
    if kind == 0:  # rectangle
        m[y0:y0 + h, x0:x0 + w] = 1
    elif kind == 1:  # ring with a hole and an island in it
        m[y0:y0 + h, x0:x0 + w] = 1
        if w > 8 and h > 8:
            m[y0 + 2:y0 + h - 2, x0 + 2:x0 + w - 2] = 0
            if w > 12 and h > 12:
                m[y0 + 5:y0 + h - 5, x0 + 5:x0 + w - 5] = 1
    elif kind == 2:  # diagonal staircase (corner touches)
        for k in range(min(w, h)):
            m[y0 + k, x0 + k] = 1
    elif kind == 3:  # one-pixel line
        m[y0 + h // 2, x0:x0 + w] = 1
    else:  # blob from random noise, then speckle
        m[y0:y0 + h, x0:x0 + w] = rng.random((h, w)) < 0.6
    return m


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("size", type=int)
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    n = a.size
    ds = gdal.GetDriverByName("GTiff").Create(a.out, n, n, 1, gdal.GDT_Byte,
                                              ["TILED=YES", "COMPRESS=ZSTD", "BIGTIFF=IF_SAFER"])
    ds.SetGeoTransform([39_500_000.0, 0.8, 0, 3_400_000.0, 0, -0.8])
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(4527)
    ds.SetProjection(srs.ExportToWkt())
    band = ds.GetRasterBand(1)
    for cy in range(0, n, CELL):
        h = min(CELL, n - cy)
        rng = np.random.default_rng(a.seed * 100_003 + cy)
        strip = np.zeros((CELL, ((n + CELL - 1) // CELL) * CELL), np.uint8)
        for cx in range(0, n, CELL):
            strip[:, cx:cx + CELL] = cell_shape(rng)
        strip |= (rng.random(strip.shape) < 0.00002).astype(np.uint8)
        band.WriteArray(strip[:h, :n], 0, cy)
    ds.FlushCache()


if __name__ == "__main__":
    main()
