#!/usr/bin/python3
"""What a lead model learned from verdicts does on real RGB pairs (shared/data/realcd: LEVIR-CD,
WHU-CD, DSIFN-CD), leave one pair out.

Each pair runs `tuban detect` (default evidence: the building index); `tuban eval --verdicts`
against its label stands in for the field check of its polygons. For each pair, `tuban learn`
fits on the verdicts of every other pair, and `tuban detect --lead-model` reruns the held-out
pair. Pixel and object scores of the polygons (changes.gpkg) before and after, pooled per
dataset.

usage: tools/learn_realcd.py [--tuban PATH] [--data DIR] [--work DIR] [-- learn flags]
"""
import argparse, glob, json, os, subprocess, sys
import numpy as np
from osgeo import gdal

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from eval_table import score  # noqa: E402

gdal.UseExceptions()
HERE = os.path.dirname(os.path.abspath(__file__))
DATASETS = ["LEVIR-CD", "WHU-CD", "DSIFN-CD"]


def sh(args):
    r = subprocess.run(args, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"failed: {' '.join(args)}\n{r.stderr}")
    return r


def truth(label, path):
    a = gdal.Open(label).ReadAsArray()
    a = a[0] if a.ndim == 3 else a
    ds = gdal.GetDriverByName("GTiff").Create(path, a.shape[1], a.shape[0], 1, gdal.GDT_Byte)
    ds.GetRasterBand(1).WriteArray((a > 127).astype(np.uint8))
    ds = None
    return path


def counts(tuban, pred, t):
    r = json.loads(sh([tuban, "eval", "--pred", pred, "--truth", t, "--json"]).stdout)
    c, o = r["pixel_counts"], r["objects"]
    return np.array([c["tp"], c["fp"], c["fn"], o["truth_objects"], o["found"],
                     o["predicted_objects"], o["false_alarms"]], dtype=float)


def main():
    ap = argparse.ArgumentParser()
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(HERE, "..", "target"))
    ap.add_argument("--tuban", default=os.path.join(target, "release", "tuban"))
    ap.add_argument("--data", default=os.path.join(HERE, "..", "..", "shared", "data", "realcd"))
    ap.add_argument("--work", default="/tmp/tuban-learn-realcd")
    ap.add_argument("learn", nargs="*", help="extra flags for tuban learn")
    a = ap.parse_args()
    tuban = os.path.abspath(a.tuban)
    pairs = []
    for name in DATASETS:
        for before in sorted(glob.glob(os.path.join(a.data, name, "A", "*.png"))):
            base = os.path.basename(before)
            w = os.path.join(a.work, f"{name}-{os.path.splitext(base)[0]}")
            os.makedirs(w, exist_ok=True)
            t = truth(os.path.join(a.data, name, "label", base), os.path.join(w, "truth.tif"))
            after = os.path.join(a.data, name, "B", base)
            sh([tuban, "detect", "--before", before, "--after", after, "--out", f"{w}/det", "--backend", "cpu"])
            sh([tuban, "eval", "--pred", f"{w}/det/changes.gpkg", "--truth", t, "--verdicts", f"{w}/verdicts.csv"])
            pairs.append((name, before, after, w, t))
    tot = {n: {"before": np.zeros(7), "after": np.zeros(7)} for n in DATASETS}
    for i, (name, before, after, w, t) in enumerate(pairs):
        learn = [tuban, "learn", "--out", f"{w}/lead.toml", "--folds", "3"] + a.learn
        for j, (_, _, _, wj, _) in enumerate(pairs):
            if j != i:
                learn += ["--leads", f"{wj}/det/changes.gpkg", "--verdicts", f"{wj}/verdicts.csv"]
        sh(learn)
        sh([tuban, "detect", "--before", before, "--after", after, "--out", f"{w}/lead", "--backend", "cpu",
            "--lead-model", f"{w}/lead.toml"])
        tot[name]["before"] += counts(tuban, f"{w}/det/changes.gpkg", t)
        tot[name]["after"] += counts(tuban, f"{w}/lead/changes.gpkg", t)
    print("| dataset | polygons | pixel P | R | F1 | objects found | right predictions | object F1 |")
    print("|---|---|---|---|---|---|---|---|")
    for name in DATASETS:
        for k in ("before", "after"):
            t = tot[name][k]
            p, r, f1, found, nt, _, _, of1 = score(t)
            right, npred = int(t[5] - t[6]), int(t[5])
            print(f"| {name} | {k} | {p:.3f} | {r:.3f} | {f1:.3f} | {int(found)}/{int(nt)} | {right}/{npred} | {of1:.3f} |")


if __name__ == "__main__":
    main()
