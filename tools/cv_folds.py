#!/usr/bin/python3
"""Cut the real pairs of shared/data/realcd into cross-validation folds for `tuban train`.

Every pair larger than --block px a side is cut into blocks of --block (WHU-CD's 1024² tile
gives four 512² pairs), so that each fold holds out part of every dataset. Pair k of a dataset
(sorted by name) goes to fold k mod --folds. For fold f, writes

    OUT/fold{f}/train/DATASET/{A,B,label}/NAME.tif   every pair not in fold f
    OUT/fold{f}/test/DATASET/{A,B,label}/NAME.tif    the pairs of fold f

usage: tools/cv_folds.py --data ../shared/data/realcd --out DIR [--folds 4] [--block 512]
       [--datasets LEVIR-CD,WHU-CD,DSIFN-CD]
"""
import argparse, glob, os
from osgeo import gdal

gdal.UseExceptions()


def blocks(path, block):
    ds = gdal.Open(path)
    w, h = ds.RasterXSize, ds.RasterYSize
    if w <= block and h <= block:
        return [(0, 0, w, h)]
    return [(x, y, min(block, w - x), min(block, h - y)) for y in range(0, h, block) for x in range(0, w, block)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--folds", type=int, default=4)
    ap.add_argument("--block", type=int, default=512)
    ap.add_argument("--datasets", default="LEVIR-CD,WHU-CD,DSIFN-CD")
    a = ap.parse_args()
    for name in a.datasets.split(","):
        items = []
        for path in sorted(glob.glob(os.path.join(a.data, name, "A", "*"))):
            base = os.path.basename(path)
            for (x, y, w, h) in blocks(path, a.block):
                items.append((base, x, y, w, h))
        for k, (base, x, y, w, h) in enumerate(items):
            stem = os.path.splitext(base)[0] + (f"_{x}_{y}" if (x, y) != (0, 0) or w < gdal.Open(os.path.join(a.data, name, "A", base)).RasterXSize else "")
            for f in range(a.folds):
                part = "test" if k % a.folds == f else "train"
                for sub in ("A", "B", "label"):
                    d = os.path.join(a.out, f"fold{f}", part, name, sub)
                    os.makedirs(d, exist_ok=True)
                    gdal.Translate(os.path.join(d, stem + ".tif"), os.path.join(a.data, name, sub, base), srcWin=[x, y, w, h], format="GTiff")


if __name__ == "__main__":
    main()
