#!/usr/bin/python3
"""Measure what `tuban learn` buys: a lead model learned from the field verdicts of some synth
scenes, applied to scenes it never saw.

For every seed: `tuban synth`, then `tuban detect` (once per profile), then `tuban eval
--verdicts` stands in for the field check (a polygon is real when truth covers half of it; its
verified type is the truth type over most of it; cloud pixels are not scored). `tuban learn`
fits on the verdicts of the training seeds; `tuban detect --lead-model` reruns the test seeds.
Reported per profile, pooled over the test seeds (object level, as `tuban eval` counts):
per-type recall and precision before and after, the false leads removed and the real leads
lost at the model's own threshold, and the false leads set aside at equal recall: at the
highest threshold that keeps all (99 %, 98 %, 95 %) of the real test leads, read from each
polygon's p(real).

Profiles: `4band` (B, G, R, NIR: the conversion rules) and `rgb` (`--bands R=3,G=2,B=1`: the
building index, as on RGB aerial imagery, where most leads are false).

usage: tools/learn_table.py [--tuban PATH] [--size 2048] [--train 1-10] [--test 11-15]
                            [--work DIR] [--profiles 4band,rgb]
"""
import argparse, json, os, re, subprocess, sys
from collections import defaultdict
from osgeo import ogr

ogr.UseExceptions()
PROFILES = {"4band": [], "rgb": ["--bands", "R=3,G=2,B=1"]}


def seeds(spec):
    a, b = spec.split("-")
    return list(range(int(a), int(b) + 1))


def sh(args, **kw):
    r = subprocess.run(args, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        sys.exit(f"failed: {' '.join(args)}\n{r.stderr}")
    return r


def p_real(lxyj):
    m = re.search(r"p\(real\) ([0-9.]+)", lxyj or "")
    return float(m.group(1)) if m else None


def layer_rows(path, layer):
    """fid -> LXYJ of a layer (empty when the file is absent)."""
    if not os.path.exists(path):
        return {}
    ds = ogr.Open(path)
    lyr = ds.GetLayerByName(layer)
    return {f.GetFID(): f.GetField("LXYJ") for f in lyr} if lyr else {}


def verdicts(tuban, pred, scene, out):
    sh([tuban, "eval", "--pred", pred, "--truth", f"{scene}/truth.tif",
        "--ignore", f"{scene}/clouds.tif", "--verdicts", out])
    rows = {}
    with open(out) as f:
        next(f)
        for line in f:
            fid, v, kind = (line.rstrip("\n").split(",") + [""])[:3]
            rows[int(fid)] = (v == "real", kind)
    return rows


def scores(tuban, pred, scene):
    r = sh([tuban, "eval", "--pred", pred, "--truth", f"{scene}/truth.tif",
            "--ignore", f"{scene}/clouds.tif", "--json"])
    return json.loads(r.stdout)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tuban", default="target/release/tuban")
    ap.add_argument("--size", type=int, default=2048)
    ap.add_argument("--train", default="1-10")
    ap.add_argument("--test", default="11-15")
    ap.add_argument("--work", default="/tmp/tuban-learn")
    ap.add_argument("--profiles", default="4band,rgb")
    a = ap.parse_args()
    tuban = os.path.abspath(a.tuban)
    train, test = seeds(a.train), seeds(a.test)
    os.makedirs(a.work, exist_ok=True)
    for s in train + test:
        scene = f"{a.work}/s{s}"
        if not os.path.exists(f"{scene}/truth.tif"):
            sh([tuban, "synth", "--size", str(a.size), "--seed", str(s), "--out", scene])
    for prof in a.profiles.split(","):
        flags = PROFILES[prof]
        learn = [tuban, "learn", "--out", f"{a.work}/lead-{prof}.toml"]
        for s in train + test:
            scene = f"{a.work}/s{s}"
            det = f"{scene}/{prof}"
            sh([tuban, "detect", "--before", f"{scene}/before.tif", "--after",
                f"{scene}/after.tif", "--out", det, "--backend", "cpu"] + flags)
            if s in train:
                verdicts(tuban, f"{det}/changes.gpkg", scene, f"{det}/verdicts.csv")
                learn += ["--leads", f"{det}/changes.gpkg", "--verdicts", f"{det}/verdicts.csv"]
        r = sh(learn)
        print(f"## {prof}: tuban learn on seeds {a.train}\n{r.stdout}")
        with open(f"{a.work}/lead-{prof}.toml") as f:
            model_t = float(re.search(r"^threshold = (\S+)", f.read(), re.M).group(1))
        before, after = defaultdict(lambda: [0, 0, 0, 0.0]), defaultdict(lambda: [0, 0, 0, 0.0])
        tot = {"before": [0, 0, 0, 0], "after": [0, 0, 0, 0]}
        judged = []  # (p_real, real) of every test polygon the model judged
        lost_real = 0
        for s in test:
            scene = f"{a.work}/s{s}"
            det, lm = f"{scene}/{prof}", f"{scene}/{prof}-lead"
            sh([tuban, "detect", "--before", f"{scene}/before.tif", "--after",
                f"{scene}/after.tif", "--out", lm, "--backend", "cpu",
                "--lead-model", f"{a.work}/lead-{prof}.toml"] + flags)
            for name, d, acc in (("before", det, before), ("after", lm, after)):
                rep = scores(tuban, f"{d}/changes.gpkg", scene)
                o = rep["objects"]
                t = tot[name]
                t[0] += o["truth_objects"]; t[1] += o["found"]
                t[2] += o["predicted_objects"]; t[3] += o["false_alarms"]
                for k, v in rep["per_type"].items():
                    e = acc[k]
                    e[0] += v["truth_objects"]; e[1] += v["found"]
                    e[2] += v["predicted_objects"]
                    e[3] += (v["precision"] or 0.0) * v["predicted_objects"]
            kept = verdicts(tuban, f"{lm}/changes.gpkg", scene, f"{lm}/verdicts.csv")
            lx = layer_rows(f"{lm}/changes.gpkg", "changes")
            for fid, (real, _) in kept.items():
                judged.append((p_real(lx.get(fid)), real))
            if os.path.exists(f"{lm}/rejected.gpkg"):
                rej = verdicts(tuban, f"{lm}/rejected.gpkg", scene, f"{lm}/rejected.csv")
                lr = layer_rows(f"{lm}/rejected.gpkg", "rejected")
                for fid, (real, _) in rej.items():
                    text = lr.get(fid) or ""
                    if text.startswith("pseudo-change lead model"):
                        judged.append((p_real(text), real))
                        lost_real += real
        print(f"### {prof}: test seeds {a.test}, objects (truth found / all; predictions right / all)")
        for name, t in tot.items():
            rec = t[1] / max(t[0], 1)
            prec = 1 - t[3] / max(t[2], 1)
            print(f"{name:6}: found {t[1]}/{t[0]} (R {rec:.3f}), predicted {t[2]}, false alarms {t[3]} (P {prec:.3f})")
        print("| type | truth | found before | after | R before | R after | predicted before | after | P before | P after |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for k in sorted(set(before) | set(after)):
            b, f = before[k], after[k]
            r = lambda e: f"{e[1] / e[0]:.3f}" if e[0] else "-"
            p = lambda e: f"{e[3] / e[2]:.3f}" if e[2] else "-"
            print(f"| {k} | {b[0]} | {b[1]} | {f[1]} | {r(b)} | {r(f)} | {b[2]} | {f[2]} | {p(b)} | {p(f)} |")
        ps = [(p, real) for p, real in judged if p is not None]
        reals = [p for p, real in ps if real]
        falses = [p for p, real in ps if not real]
        if reals and falses:
            removed = sum(1 for p, real in ps if not real and p < model_t)
            print(f"judged test polygons: {len(reals)} real, {len(falses)} false")
            print(f"at the model's threshold {model_t:.3f}: {removed}/{len(falses)} false leads set aside "
                  f"({100 * removed / len(falses):.1f} %), {lost_real}/{len(reals)} real leads lost")
            # The test polygons' own trade-off: the highest threshold that keeps a share of the
            # real ones, and the false ones it sets aside.
            reals.sort()
            for keep in (1.0, 0.99, 0.98, 0.95):
                t = reals[int((1 - keep) * len(reals))]
                gone = sum(p < t for p in falses)
                print(f"keeping {100 * keep:.0f} % of the real test leads (threshold {t:.3f}): "
                      f"{gone}/{len(falses)} false leads set aside ({100 * gone / len(falses):.1f} %)")
        print()


if __name__ == "__main__":
    main()
