#!/usr/bin/python3
"""Pixel precision / recall / F1 of `tuban detect` on every pair in shared/data/realcd.

Runs the default pipeline and, as the baseline, plain brightness differencing with an Otsu
threshold (no normalisation, no morphology) through the same binary, and prints one table.
Counts are pooled over the pairs of a dataset (micro-averaged). Unlabelled pixels (Landsat:
in neither change.bmp nor unchanged.bmp) are not scored.

usage: tools/realcd_eval.py [--tuban PATH] [--data DIR] [--backend cpu|gpu] [-- extra detect flags]
"""
import argparse, glob, os, subprocess, sys, tempfile
import numpy as np
from osgeo import gdal

gdal.UseExceptions()
HERE = os.path.dirname(os.path.abspath(__file__))

# dataset -> (before glob, after dir, label function, extra flags for the default run)
def png_label(path):
    a = gdal.Open(path).ReadAsArray()
    a = a[0] if a.ndim == 3 else a
    return a > 127, np.ones(a.shape, bool)

def landsat_label(_):
    d = os.path.dirname(_)
    ch = gdal.Open(os.path.join(d, "change.bmp")).ReadAsArray() > 127
    un = gdal.Open(os.path.join(d, "unchanged.bmp")).ReadAsArray() > 127
    return ch, ch | un

DATASETS = [
    ("LEVIR-CD", "*.png", png_label, []),
    ("WHU-CD", "*.png", png_label, []),
    ("DSIFN-CD", "*.png", png_label, []),
    ("Landsat-Taizhou", "*TM", landsat_label, []),
    ("SAR-Bern", "*.bmp", png_label, ["--evidence", "logratio"]),
]

BASELINE = ["--evidence", "brightness", "--no-normalize", "--open", "0", "--close", "0"]


def pairs(root, name, pattern):
    for a in sorted(glob.glob(os.path.join(root, name, "A", pattern))):
        base = os.path.basename(a)
        bdir = os.path.join(root, name, "B")
        b = os.path.join(bdir, base)
        if not os.path.exists(b):  # Landsat: 2000TM vs 2003TM, SAR: bern_1 vs bern_2
            cands = [p for p in sorted(glob.glob(os.path.join(bdir, pattern)))]
            b = cands[0]
        labels = sorted(glob.glob(os.path.join(root, name, "label", "*")))
        lab = os.path.join(root, name, "label", base)
        if not os.path.exists(lab):
            lab = labels[0]
        yield a, b, lab


def run(tuban, a, b, flags, backend):
    with tempfile.TemporaryDirectory() as out:
        cmd = [tuban, "detect", "--before", a, "--after", b, "--out", out, "--backend", backend] + flags
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit(f"{' '.join(cmd)} failed:\n{r.stderr}")
        return gdal.Open(os.path.join(out, "change.tif")).ReadAsArray()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tuban", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(HERE, "..", "target")), "release", "tuban"))
    ap.add_argument("--data", default=os.path.join(HERE, "..", "..", "shared", "data", "realcd"))
    ap.add_argument("--backend", default="cpu")
    ap.add_argument("extra", nargs="*", help="extra flags for the default run")
    args = ap.parse_args()
    print(f"{'dataset':16s} {'pairs':>5s} | {'default P':>9s} {'R':>6s} {'F1':>6s} | {'baseline P':>10s} {'R':>6s} {'F1':>6s}")
    for name, pattern, labeler, flags in DATASETS:
        tot = {"default": np.zeros(3), "baseline": np.zeros(3)}
        n = 0
        for a, b, lab in pairs(args.data, name, pattern):
            truth, scored = labeler(lab)
            for key, fl in (("default", flags + args.extra), ("baseline", BASELINE)):
                m = run(args.tuban, a, b, fl, args.backend)
                pred = m == 1
                s = scored & (m != 255)
                tot[key] += [np.sum(pred & truth & s), np.sum(pred & ~truth & s), np.sum(~pred & truth & s)]
            n += 1
        row = []
        for key in ("default", "baseline"):
            tp, fp, fn = tot[key]
            p = tp / max(tp + fp, 1); r = tp / max(tp + fn, 1)
            row += [p, r, 2 * p * r / max(p + r, 1e-12)]
        print(f"{name:16s} {n:5d} | {row[0]:9.3f} {row[1]:6.3f} {row[2]:6.3f} | {row[3]:10.3f} {row[4]:6.3f} {row[5]:6.3f}")


if __name__ == "__main__":
    main()
