#!/usr/bin/python3
"""Generate a bi-temporal 4-band uint16 scene (B, G, R, NIR; reflectance x 10000) for
benchmarks: fields, roads, buildings with shadows; the after date has a gain/offset change,
noise and new buildings. Written in row strips, so memory stays bounded for large sizes.

usage: tools/make_scene.py SIZE OUTDIR [--seed N] [--compress ZSTD|NONE|...]   -> OUTDIR/before.tif, OUTDIR/after.tif
"""
import argparse, os
import numpy as np
from osgeo import gdal, osr

gdal.UseExceptions()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("size", type=int)
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--strip", type=int, default=512)
    ap.add_argument("--compress", default="ZSTD", help="GeoTIFF compression (ZSTD, DEFLATE, NONE, ...)")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    n = a.size
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(4527)
    opts = ["TILED=YES", f"COMPRESS={a.compress}", "BIGTIFF=IF_SAFER", "BLOCKXSIZE=512", "BLOCKYSIZE=512"]
    drv = gdal.GetDriverByName("GTiff")
    dss = []
    for name in ("before", "after"):
        ds = drv.Create(os.path.join(a.out, f"{name}.tif"), n, n, 4, gdal.GDT_UInt16, opts)
        ds.SetGeoTransform([39_500_000.0, 0.8, 0, 3_400_000.0, 0, -0.8])
        ds.SetProjection(srs.ExportToWkt())
        for b, ci in enumerate([gdal.GCI_BlueBand, gdal.GCI_GreenBand, gdal.GCI_RedBand, gdal.GCI_Undefined]):
            ds.GetRasterBand(b + 1).SetColorInterpretation(ci)
        dss.append(ds)
    base_refl = np.array([[600, 800, 700, 3000], [900, 1100, 1300, 2200], [500, 700, 600, 3500]], np.float32)
    for y0 in range(0, n, a.strip):
        h = min(a.strip, n - y0)
        rng = np.random.default_rng(a.seed * 1_000_003 + y0)
        yy, xx = np.mgrid[y0:y0 + h, 0:n]
        field = ((xx // 97) * 7 + (yy // 61) * 3) % 3
        refl = base_refl[field]  # h x n x 4
        before = refl + rng.normal(0, 40, refl.shape)
        after = refl * 1.08 + 60 + rng.normal(0, 40, refl.shape)
        # existing buildings (both dates) and new buildings (after only) on a grid of lots
        lot = ((xx // 40) * 31 + (yy // 40) * 17) % 23
        inside = ((xx % 40) > 8) & ((xx % 40) < 28) & ((yy % 40) > 8) & ((yy % 40) < 24)
        roof = np.array([2500, 2600, 2700, 2800], np.float32)
        old = inside & (lot == 0)
        new = inside & (lot == 5)
        before[old] = roof
        after[old] = roof * 1.08 + 60
        after[new] = roof
        shadow = ((xx % 40) >= 28) & ((xx % 40) < 31) & ((yy % 40) > 8) & ((yy % 40) < 24) & (lot == 5)
        after[shadow] = 300
        for ds, img in zip(dss, (before, after)):
            img = np.clip(img, 1, 65535).astype(np.uint16)
            for b in range(4):
                ds.GetRasterBand(b + 1).WriteArray(img[:, :, b], 0, y0)
    for ds in dss:
        ds.FlushCache()


if __name__ == "__main__":
    main()
