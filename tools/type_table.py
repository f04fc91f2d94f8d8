#!/usr/bin/python3
"""Change types (TBLX) as `tuban detect` assigns them, scored with `tuban eval`.

Synthetic counties (`tuban synth --size N`, several seeds): per type, among objects of at least
5 mu, truth objects found *as their own type* (predicted polygons of the same type cover >= 50 %)
and predicted polygons of the type that are right (>= 50 % truth of the same type), pooled over
the seeds, DL1 and DL2 scored together as DL (`--merge DL1,DL2=DL`). Cloud pixels are not scored
for this (what lies under a cloud cannot be seen). Then the confusion of the found objects
(truth type -> the type of the polygon covering most of it), and the pseudo-change share: the
output area that is no truth change, clouds included.

Real pairs (shared/data/realcd): object-level recall and precision of the typed polygons
(changes.gpkg) against the change labels, which carry no types, and the types the polygons got.

usage: tools/type_table.py [--tuban PATH] [--seeds 1,...,16] [--size 2048] [--data DIR]
                           [--no-real] [--context] [-- extra detect flags]
"""
import argparse, collections, glob, json, os, subprocess, sys, tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from eval_table import DATASETS, pairs, truth_files  # noqa: E402


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{r.stderr}")
    return r.stdout


def georef_like(path, src):
    """Give the label raster `path` the georeference of the image `src` (labels come bare)."""
    from osgeo import gdal
    s = gdal.Open(src)
    gt, proj = s.GetGeoTransform(can_return_null=True), s.GetProjection()
    if gt is None:
        return
    d = gdal.Open(path, gdal.GA_Update)
    d.SetGeoTransform(gt)
    if proj:
        d.SetProjection(proj)
    d = None


def typed_counts(gpkg):
    """TBLX -> polygon count of a changes.gpkg."""
    from osgeo import ogr
    ds = ogr.Open(gpkg)
    c = collections.Counter()
    lyr = ds.GetLayer(0)
    for f in lyr:
        c[f.GetField("TBLX") or "-"] += 1
    return c


def synthetic(args):
    pooled = collections.defaultdict(lambda: [0, 0, 0, 0])
    confusion = collections.defaultdict(collections.Counter)
    fp = tp = 0
    for seed in args.seeds.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            d = os.path.join(tmp, "scene")
            run([args.tuban, "synth", "--size", str(args.size), "--seed", seed, "--out", d])
            out = os.path.join(d, "det")
            context = ["--context", f"{d}/refs.gpkg", "--context-layer", "DLTB"] if args.context else []
            run([args.tuban, "detect", "--before", f"{d}/before.tif", "--after", f"{d}/after.tif",
                 "--out", out, "--backend", args.backend] + context + args.extra)
            base = [args.tuban, "eval", "--pred", f"{out}/changes.gpkg", "--truth", f"{d}/truth.tif",
                    "--merge", "DL1,DL2=DL", "--json"]
            r = json.loads(run(base + ["--min-area-mu", "5", "--ignore", f"{d}/clouds.tif"]))
            for k, v in r["per_type_above_threshold"].items():
                p = pooled[k]
                p[0] += v["truth_objects"]
                p[1] += v["found"]
                p[2] += v["predicted_objects"] or 0
                p[3] += round((v["precision"] or 0) * (v["predicted_objects"] or 0))
            for t, row in r["type_confusion"].items():
                confusion[t].update(row)
            # Every pixel scored, clouds included: what share of the output is no change.
            all_px = json.loads(run(base))
            fp += all_px["pixel_counts"]["fp"]
            tp += all_px["pixel_counts"]["tp"]
    print(f"synthetic counties: seeds {args.seeds}, {args.size} px, objects >= 5 mu, pooled")
    print(f"{'type':6s} {'truth':>5s} {'found':>5s} {'recall':>6s} {'pred':>5s} {'right':>5s} {'precision':>9s}")
    for k in sorted(pooled):
        t, f, p, g = pooled[k]
        rec = f / t if t else float("nan")
        pre = g / p if p else float("nan")
        print(f"{k:6s} {t:5d} {f:5d} {rec:6.3f} {p:5d} {g:5d} {pre:9.3f}")
    print(f"pseudo-change share of the output area (clouds counted): {fp / max(fp + tp, 1):.4f}")
    print("confusion of found truth objects, all sizes (truth -> type given: count):")
    for t in sorted(confusion):
        cells = "  ".join(f"{p or '-'}:{c}" for p, c in sorted(confusion[t].items()))
        print(f"  {t:5s} {cells}")


def real(args):
    print("\nreal pairs: typed polygons (changes.gpkg) vs the untyped labels, objects pooled per dataset")
    print(f"{'dataset':16s} {'pairs':>5s} {'truth':>6s} {'found':>6s} {'R':>6s} {'pred':>6s} {'false':>6s} {'P':>6s}  types given to all polygons; to the found objects")
    for name, pattern, flags in DATASETS:
        tot = [0, 0, 0, 0]
        types = collections.Counter()
        found_as = collections.Counter()
        n = 0
        for a, b, lab in pairs(args.data, name, pattern):
            with tempfile.TemporaryDirectory() as tmp:
                truth, scored = truth_files(name, lab, tmp)
                for t in (truth, scored):
                    if t:
                        georef_like(t, a)
                out = os.path.join(tmp, "out")
                run([args.tuban, "detect", "--before", a, "--after", b, "--out", out,
                     "--backend", args.backend] + flags + args.extra)
                cmd = [args.tuban, "eval", "--pred", f"{out}/changes.gpkg", "--truth", truth, "--json"]
                if scored:
                    cmd += ["--scored", scored]
                r = json.loads(run(cmd))
                o = r["objects"]
                for row in r["type_confusion"].values():
                    found_as.update(row)
                tot[0] += o["truth_objects"]
                tot[1] += o["found"]
                tot[2] += o["predicted_objects"]
                tot[3] += o["false_alarms"]
                types.update(typed_counts(f"{out}/changes.gpkg"))
            n += 1
        t, f, p, fa = tot
        rec = f / t if t else float("nan")
        pre = (p - fa) / p if p else float("nan")
        given = ", ".join(f"{k} {v}" for k, v in types.most_common())
        found = ", ".join(f"{k} {v}" for k, v in found_as.most_common())
        print(f"{name:16s} {n:5d} {t:6d} {f:6d} {rec:6.3f} {p:6d} {fa:6d} {pre:6.3f}  all: {given}; found objects: {found}")


def main():
    ap = argparse.ArgumentParser()
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(HERE, "..", "target"))
    ap.add_argument("--tuban", default=os.path.join(target, "release", "tuban"))
    ap.add_argument("--seeds", default=",".join(str(s) for s in range(1, 17)))
    ap.add_argument("--size", type=int, default=2048)
    ap.add_argument("--backend", default="cpu")
    ap.add_argument("--data", default=os.path.join(HERE, "..", "..", "shared", "data", "realcd"))
    ap.add_argument("--no-real", action="store_true")
    ap.add_argument("--context", action="store_true",
                    help="give detect each county's land-use survey (refs.gpkg, layer DLTB)")
    ap.add_argument("extra", nargs="*", help="extra flags for tuban detect")
    args = ap.parse_args()
    synthetic(args)
    if not args.no_real:
        real(args)


if __name__ == "__main__":
    main()
