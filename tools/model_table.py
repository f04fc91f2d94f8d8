#!/usr/bin/python3
"""Cross-validated accuracy of a model trained by `tuban train`, beside every classical
evidence kind, on the real pairs in shared/data/realcd (pairs the model did not train on).

For each fold made by tools/cv_folds.py (every dataset's pairs, WHU-CD cut into 512² blocks,
dealt round-robin into --folds folds), train on the other folds' pairs (plus optional synth
folders), run `tuban detect --model` on the held-out pairs, and score with `tuban eval`; the
classical kinds run on the same held-out pairs. Counts are pooled over folds per dataset.

With --by-dataset the folds are the datasets: each is scored by a model trained on the other
datasets only (imagery from a sensor and place the model never saw).

usage: tools/model_table.py [--tuban PATH] [--data DIR] [--folds 4 | --by-dataset] [--epochs 60] [--kind net|trees]
                            [--synth DIR ...] [--work DIR] [--kinds mbi,msi,cva,sam,brightness]
                            [--model-flags '--model-stride 2']
                            [-- extra train flags]
"""
import argparse, glob, os, subprocess, sys, tempfile
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from eval_table import detect_eval, score, truth_files  # noqa: E402

DATASETS = ["LEVIR-CD", "WHU-CD", "DSIFN-CD"]


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{r.stderr}")
    return r.stdout


def main():
    ap = argparse.ArgumentParser()
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(HERE, "..", "target"))
    ap.add_argument("--tuban", default=os.path.join(target, "release", "tuban"))
    ap.add_argument("--data", default=os.path.join(HERE, "..", "..", "shared", "data", "realcd"))
    ap.add_argument("--folds", type=int, default=4)
    ap.add_argument("--by-dataset", action="store_true", help="leave one dataset out: the folds are the datasets")
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--kind", default="net", choices=["net", "trees"], help="tuban train --kind")
    ap.add_argument("--synth", action="append", default=[], help="extra training folders (synth scenes)")
    ap.add_argument("--work", default=None, help="keep folds and models here")
    ap.add_argument("--kinds", default="mbi,msi,cva,sam,brightness")
    ap.add_argument("--thresholds", default="", help="also score the model at these probabilities, e.g. 0.3,0.4")
    ap.add_argument("--model-flags", default="", help="extra flags for the model's tuban detect runs, e.g. '--model-stride 1'")
    ap.add_argument("extra", nargs="*", help="extra flags for tuban train")
    a = ap.parse_args()
    work = a.work or tempfile.mkdtemp(prefix="tuban-cv-")
    if a.by_dataset:
        # Every pair once (one fold holds them all), then fold f: dataset f held out.
        every = os.path.join(work, "every")
        if not os.path.isdir(every):
            run([sys.executable, os.path.join(HERE, "cv_folds.py"), "--data", a.data, "--out", every, "--folds", "1"])
        a.folds = len(DATASETS)
        for f, held in enumerate(DATASETS):
            for d in DATASETS:
                link = os.path.join(work, f"fold{f}", "test" if d == held else "train", d)
                if not os.path.exists(link):
                    os.makedirs(os.path.dirname(link), exist_ok=True)
                    os.symlink(os.path.join(every, "fold0", "test", d), link)
    elif not os.path.isdir(os.path.join(work, "fold0")):
        run([sys.executable, os.path.join(HERE, "cv_folds.py"), "--data", a.data, "--out", work, "--folds", str(a.folds)])
    extra_t = [t for t in a.thresholds.split(",") if t.strip()]
    methods = ["model"] + [f"model@{t}" for t in extra_t] + a.kinds.split(",")
    tot = {(d, m): np.zeros(7) for d in DATASETS for m in methods}
    for f in range(a.folds):
        fold = os.path.join(work, f"fold{f}")
        model = os.path.join(fold, "model.onnx" if a.kind == "net" else "trees.toml")
        if not os.path.exists(model):
            cmd = [a.tuban, "train", "--out", model, "--validation", "0"] + a.extra
            if a.kind == "net":
                cmd += ["--epochs", str(a.epochs)]
            for d in DATASETS + [os.path.abspath(s) for s in a.synth]:
                p = d if os.path.isabs(d) else os.path.join(fold, "train", d)
                if os.path.isdir(p):
                    cmd += ["--pairs", p]
            print(f"fold {f}: training", file=sys.stderr)
            run(cmd)
        for d in DATASETS:
            for pa in sorted(glob.glob(os.path.join(fold, "test", d, "A", "*"))):
                base = os.path.basename(pa)
                pb, lab = (os.path.join(fold, "test", d, s, base) for s in ("B", "label"))
                with tempfile.TemporaryDirectory() as tmp:
                    truth, scored = truth_files(d, lab, tmp)
                    for m in methods:
                        if m.startswith("model"):
                            fl = ["--model", model] + (["--threshold", m.split("@")[1]] if "@" in m else []) + a.model_flags.split()
                        else:
                            fl = ["--evidence", m]
                        r = detect_eval(a.tuban, pa, pb, fl, "cpu", truth, scored, tmp)
                        c, o = r["pixel_counts"], r["objects"]
                        tot[(d, m)] += [c["tp"], c["fp"], c["fn"], o["truth_objects"], o["found"], o["predicted_objects"], o["false_alarms"]]
    print(f"{'dataset':10s} {'method':10s} | {'P':>5s} {'R':>5s} {'F1':>5s} | {'found':>9s} {'obj R':>5s} {'obj P':>5s} {'obj F1':>6s}")
    for d in DATASETS:
        for m in methods:
            s = score(tot[(d, m)])
            print(f"{d:10s} {m:10s} | {s[0]:5.3f} {s[1]:5.3f} {s[2]:5.3f} | {int(s[3]):>4d}/{int(s[4]):<4d} {s[5]:5.3f} {s[6]:5.3f} {s[7]:6.3f}")
    print(f"work folder: {work}", file=sys.stderr)


if __name__ == "__main__":
    main()
