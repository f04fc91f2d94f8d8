#!/usr/bin/python3
"""Score `tuban detect` with `tuban eval` on every pair in shared/data/realcd and on synthetic
scenes (`tuban synth`, several seeds), in one table.

For each dataset: the default pipeline and, as the baseline, plain brightness differencing with
an Otsu threshold (no normalisation, no morphology), both through `tuban detect --backend cpu`.
Pixel counts and object counts are pooled over the pairs of a dataset (micro-averaged).
Landsat: pixels in neither change.bmp nor unchanged.bmp are unlabelled and not scored. Object
rule: a truth object is found when >= 50 % of it is detected; a prediction is a false alarm
when < 50 % of it is truth.

Synthetic scenes are scored against truth.tif with cloud and cloud-shadow pixels not scored
(clouds.tif), the way a user would mask them.

usage: tools/eval_table.py [--tuban PATH] [--data DIR] [--backend cpu|gpu] [--synth-seeds 1,2,3]
                           [--synth-size 1024] [-- extra detect flags]
"""
import argparse, glob, json, os, subprocess, sys, tempfile
import numpy as np
from osgeo import gdal

gdal.UseExceptions()
HERE = os.path.dirname(os.path.abspath(__file__))

# dataset, before-file glob, extra flags for the default run. On RGB imagery `auto` now runs the
# bundled model, which was trained on these very pairs: its honest score is the cross-validated
# one of tools/model_table.py. This table keeps the label-free default (mbi) for them.
DATASETS = [
    ("LEVIR-CD", "*.png", ["--evidence", "mbi"]),
    ("WHU-CD", "*.png", ["--evidence", "mbi"]),
    ("DSIFN-CD", "*.png", ["--evidence", "mbi"]),
    ("Landsat-Taizhou", "*TM", []),
    ("SAR-Bern", "*.bmp", ["--evidence", "logratio"]),
]
BASELINE = ["--evidence", "brightness", "--no-normalize", "--open", "0", "--close", "0"]


def pairs(root, name, pattern):
    labels = sorted(glob.glob(os.path.join(root, name, "label", "*")))
    for a in sorted(glob.glob(os.path.join(root, name, "A", pattern))):
        base = os.path.basename(a)
        b = os.path.join(root, name, "B", base)
        if not os.path.exists(b):  # Landsat 2000TM/2003TM, SAR bern_1/bern_2
            b = sorted(glob.glob(os.path.join(root, name, "B", pattern)))[0]
        lab = os.path.join(root, name, "label", base)
        yield a, b, (lab if os.path.exists(lab) else labels[0])


def truth_files(name, label, tmp):
    """(truth raster, scored raster or None) in a form `tuban eval` reads."""
    if name == "Landsat-Taizhou":
        d = os.path.dirname(label)
        ch = gdal.Open(os.path.join(d, "change.bmp")).ReadAsArray() > 127
        un = gdal.Open(os.path.join(d, "unchanged.bmp")).ReadAsArray() > 127
        return write(tmp, "truth.tif", ch), write(tmp, "scored.tif", ch | un)
    a = gdal.Open(label).ReadAsArray()
    a = a[0] if a.ndim == 3 else a
    return write(tmp, "truth.tif", a > 127), None


def write(tmp, name, arr):
    path = os.path.join(tmp, name)
    ds = gdal.GetDriverByName("GTiff").Create(path, arr.shape[1], arr.shape[0], 1, gdal.GDT_Byte)
    ds.GetRasterBand(1).WriteArray(arr.astype(np.uint8))
    ds = None
    return path


def detect_eval(tuban, a, b, flags, backend, truth, scored, tmp, ignore=None):
    out = os.path.join(tmp, "out")
    cmd = [tuban, "detect", "--before", a, "--after", b, "--out", out, "--backend", backend, "--no-polygons"] + flags
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{r.stderr}")
    cmd = [tuban, "eval", "--pred", os.path.join(out, "change.tif"), "--truth", truth, "--json"]
    if scored:
        cmd += ["--scored", scored]
    if ignore:
        cmd += ["--ignore", ignore]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{r.stderr}")
    return json.loads(r.stdout)


def main():
    ap = argparse.ArgumentParser()
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(HERE, "..", "target"))
    ap.add_argument("--tuban", default=os.path.join(target, "release", "tuban"))
    ap.add_argument("--data", default=os.path.join(HERE, "..", "..", "shared", "data", "realcd"))
    ap.add_argument("--backend", default="cpu")
    ap.add_argument("--synth-seeds", default="1,2,3")
    ap.add_argument("--synth-size", type=int, default=1024)
    ap.add_argument("extra", nargs="*", help="extra flags for the default run")
    args = ap.parse_args()
    print(f"{'dataset':16s} {'pairs':>5s} | {'pixel P':>7s} {'R':>5s} {'F1':>5s} | {'base P':>6s} {'R':>5s} {'F1':>5s} |"
          f" {'obj found':>9s} {'obj R':>5s} {'obj P':>5s} {'obj F1':>6s} | {'base obj F1':>11s}")
    for name, pattern, flags in DATASETS:
        tot = {k: np.zeros(7) for k in ("default", "baseline")}
        n = 0
        for a, b, lab in pairs(args.data, name, pattern):
            with tempfile.TemporaryDirectory() as tmp:
                truth, scored = truth_files(name, lab, tmp)
                for key, fl in (("default", flags + args.extra), ("baseline", BASELINE)):
                    r = detect_eval(args.tuban, a, b, fl, args.backend, truth, scored, tmp)
                    c, o = r["pixel_counts"], r["objects"]
                    tot[key] += [c["tp"], c["fp"], c["fn"], o["truth_objects"], o["found"], o["predicted_objects"], o["false_alarms"]]
            n += 1
        cells = [score(tot[k]) for k in ("default", "baseline")]
        row(name, n, cells)
    seeds = [s for s in args.synth_seeds.split(",") if s.strip()]
    if seeds:
        tot = {k: np.zeros(7) for k in ("default", "baseline")}
        for seed in seeds:
            with tempfile.TemporaryDirectory() as tmp:
                scene = os.path.join(tmp, "scene")
                r = subprocess.run([args.tuban, "synth", "--size", str(args.synth_size), "--seed", seed, "--out", scene], capture_output=True, text=True)
                if r.returncode != 0:
                    sys.exit(f"tuban synth failed:\n{r.stderr}")
                a, b = os.path.join(scene, "before.tif"), os.path.join(scene, "after.tif")
                truth = os.path.join(scene, "truth.tif")
                for key, fl in (("default", args.extra), ("baseline", BASELINE)):
                    r = detect_eval(args.tuban, a, b, fl, args.backend, truth, None, tmp, ignore=os.path.join(scene, "clouds.tif"))
                    c, o = r["pixel_counts"], r["objects"]
                    tot[key] += [c["tp"], c["fp"], c["fn"], o["truth_objects"], o["found"], o["predicted_objects"], o["false_alarms"]]
        row(f"synth x{len(seeds)}", len(seeds), [score(tot[k]) for k in ("default", "baseline")])


def score(t):
    tp, fp, fn, nt, found, npred, false = t
    p = tp / max(tp + fp, 1); r = tp / max(tp + fn, 1)
    orr = found / max(nt, 1); op = (npred - false) / max(npred, 1)
    return (p, r, 2 * p * r / max(p + r, 1e-12), found, nt, orr, op, 2 * orr * op / max(orr + op, 1e-12))


def row(name, n, cells):
    d, bl = cells
    print(f"{name:16s} {n:5d} | {d[0]:7.3f} {d[1]:5.3f} {d[2]:5.3f} | {bl[0]:6.3f} {bl[1]:5.3f} {bl[2]:5.3f} |"
          f" {int(d[3]):>4d}/{int(d[4]):<4d} {d[5]:5.3f} {d[6]:5.3f} {d[7]:6.3f} | {bl[7]:11.3f}")


if __name__ == "__main__":
    main()
