#!/usr/bin/python3
"""Stage 7: ground and calibrate an exported model with the Go app's own decoder.

    /usr/bin/python3 -m training.calibrate --model DIR [--data DIR] [--extra DIR ...] [--jobs N]

Writes the "captionai" section of DIR/config.json, which only inference/ reads
(transformers.js ignores it):

1. Detector vetoes. For each setting of --veto-grid (a word naming a COCO class is banned
   while the encoder's detector_scores for that class is below the threshold; person words
   have their own threshold), the dev splits are captioned by `captionai caption --evidence`
   and scored: CIDEr-D, subject named, object and person hallucination. A setting with a
   third number, a cost λ, gives each object class named in at least --min-named of the training
   splits' captions (captioned once without vetoes, cached in training/work/calibrate/) its own
   threshold: the one that removes the most of those captions' hallucinated mentions of the
   class (no reference mentions it) less λ times the true mentions it removes. The detector
   scores some classes low even where they are (a dog in an action shot, a person far off),
   and others high; one threshold for all removes many true words to stop a few false ones.
   A fourth number keeps the photo's top-scoring class out of the vetoes when it scores at
   least that much: a close-up of bananas scores 0.3 for banana, under its fitted 0.41.
   A fitted threshold is at least --min-threshold: a class the detector does not see at all
   stays banned (the dev splits hold few of the photos outside their world where the model
   invents a dog, and the training captions name dogs rightly almost always). Person words
   keep the setting's threshold: the dev splits are mostly photos of people, the
   photos people upload often have nobody in them, and a caption that invents a person there
   is the failure users notice most. The setting kept is the one with the fewest
   hallucinations (objects + persons, mean over the dev splits) whose mean dev CIDEr-D is
   within --cider-margin (0.02) and mean subject-named rate within --subject-margin (0.03) of
   the best settings': a veto that removes true subjects costs more than the hallucinations
   it prevents.
2. Confidence. A logistic regression over the evidence the Go app prints (mean and
   minimum token log-probability, whether the caption names a detector class, the
   detector's score for it, its top score) predicts whether the caption names its subject
   right (training.eval.grounding.subject_named against the references), fitted on the
   dev splits together. "probable_below" is the lowest threshold above which captions name
   their subject right at least --precision of the time on EVERY dev split; "unsure_below"
   is the highest threshold below which at most --unsure-precision (20 %) of captions do; those
   get `safe_text` instead of the model's words.

Everything it measured goes to DIR/calibration.json (the model card reads it).
"""

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from training import coco
from training.data import WORK, datasets, image_file, read_all_captions, read_splits
from training.eval import grounding
from training.eval.metrics import evaluate as score_all

# Words that may repeat in a caption ("a man on a bench in a park"); every other word
# appears once at most.
REPEAT_EXEMPT = ("a an the of in on at with and is are to into onto by for from near while its it his her their "
                 "up down out through over under front side top next each other one two three some".split())
SAFE_TEXT = "a photo"


def parser():
    ap = argparse.ArgumentParser(description="Stage 7: detector vetoes and confidence calibration on dev.")
    ap.add_argument("--model", required=True, help="exported model folder (its config.json is rewritten)")
    ap.add_argument("--data", help="the main dataset (default: FLICKR8K_DIR or ../shared/datasets/flickr8k)")
    ap.add_argument("--extra", action="append", default=[], metavar="DIR", help="more datasets with a dev split")
    ap.add_argument("--bin", help="captionai binary (default: built from the working tree into training/work/eval/)")
    ap.add_argument("--jobs", type=int, default=2, help="captionai processes at once")
    ap.add_argument("--veto-grid", default="0:0,0.08:0.2,0.12:0.25,0.16:0.3,0.2:0.35,"
                    "0.16:0.1:0.5,0.16:0.2:1,0.16:0.2:0.5,0.16:0.2:0.25,0.16:0.3:0.5,"
                    "0.16:0.1:0.5:0.2,0.16:0.2:1:0.2,0.16:0.2:0.5:0.2,0.16:0.2:0.5:0.15,0.16:0.2:0.25:0.2,"
                    "0.16:0.2:0.25:0.15",
                    help="object:person[:cost[:top]] detector thresholds to try (0:0 = no veto; with a cost, classes "
                         "the training captions name often get thresholds fitted at that cost of a true word; "
                         "with top, the photo's top class is not vetoed from that score on)")
    ap.add_argument("--penalty-grid", default="0,4,8,16",
                    help="veto penalties tried with the chosen thresholds (0: a word under its threshold is banned; "
                         "p: it costs p x ln(score / threshold) in log-probability)")
    ap.add_argument("--min-named", type=int, default=10,
                    help="training captions naming a class needed before it gets its own threshold")
    ap.add_argument("--min-threshold", type=float, default=0.05, help="the lowest fitted threshold")
    ap.add_argument("--cider-margin", type=float, default=0.02)
    ap.add_argument("--subject-margin", type=float, default=0.03,
                    help="a veto setting may lose at most this much of the best mean subject-named rate")
    ap.add_argument("--precision", type=float, default=0.85)
    ap.add_argument("--unsure-precision", type=float, default=0.2)
    return ap


def caption_all(binary, model, files, jobs, chunk=100):
    """{file: (text, model text, evidence features, detector scores)} from `captionai caption --evidence`."""
    env = dict(os.environ, MODEL_DIR=model)

    def run(part):
        out = subprocess.run([binary, "caption", "--evidence", *part], env=env, check=True,
                             capture_output=True, text=True).stdout
        rows = {}
        for line in out.splitlines():
            f = line.split("\t")
            rows[f[0]] = (f[1], f[2], [float(x) for x in f[5:10]], [float(x) for x in f[10].split(",") if x])
        return rows

    parts = [files[i:i + chunk] for i in range(0, len(files), chunk)]
    res = {}
    with ThreadPoolExecutor(jobs) as ex:
        for rows in ex.map(run, parts):
            res.update(rows)
    return res


def model_key(folder):
    """sha256 of the files that decide a model's captions (all but its calibration and card)."""
    h = hashlib.sha256()
    for root, _, names in sorted(os.walk(folder)):
        for n in sorted(names):
            if n in ("calibration.json", "README.md"):
                continue
            h.update(n.encode())
            with open(os.path.join(root, n), "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
    return h.hexdigest()[:16]


def train_mentions(binary, model, sets, caps, jobs):
    """(class, detector score, whether a reference mentions it) for each object class that the
    training splits' captions name, model captioning without vetoes."""
    keys = read_splits(sets, "train", caps)
    cache = os.path.join(WORK, "calibrate", f"train-captions-{model_key(model)}.json")
    if os.path.exists(cache):
        with open(cache) as f:
            out = json.load(f)
    else:
        files = [image_file(sets, k) for k in keys]
        got = caption_all(binary, model, files, jobs)
        out = {k: [got[f][1], got[f][3]] for k, f in zip(keys, files)}
        os.makedirs(os.path.dirname(cache), exist_ok=True)
        with open(cache, "w") as f:
            json.dump(out, f)
    mentions = []
    for k in keys:
        text, scores = out[k]
        refs = grounding.reference_classes(caps[k])
        mentions += [(c, scores[c], c in refs) for c in grounding.object_classes(text)]
    return mentions


def class_thresholds(obj, person, cost, mentions, min_named, floor, ceiling=0.6):
    """{label: threshold} for the classes whose threshold is not obj: person's, and with a cost
    each object class named in at least min_named training captions, fitted on them."""
    out = {"person": person}
    if cost is None:
        return out
    by = {}
    for c, score, true in mentions:
        by.setdefault(c, []).append((round(score, 4), true))
    for c, named in sorted(by.items()):
        if len(named) >= min_named:
            out[coco.CLASSES[c]] = grounding.fit_veto_threshold(named, cost, floor, ceiling)
    return {k: v for k, v in out.items() if k == "person" or v != obj}


def grounding_section(obj, per_class, keep_top=0.0, weights=None, probable=None, unsure=None, penalty=0.0):
    sec = {"detector": {"output": "detector_scores", "labels": coco.CLASSES},
           "words": coco.WORD_CLASS, "veto_below": obj, "veto_below_class": per_class,
           "no_repeat_words": True, "repeat_exempt": list(REPEAT_EXEMPT)}
    if keep_top:
        sec["keep_top_above"] = keep_top
    if penalty:
        sec["veto_penalty"] = penalty
    if weights is not None:
        sec["confidence"] = {"weights": [round(w, 6) for w in weights], "probable_below": round(probable, 4),
                             "unsure_below": round(unsure, 4), "safe_text": SAFE_TEXT}
    return sec


def write_config(model, section, into):
    """A copy of model's config.json with section, in folder into (model's other files linked)."""
    os.makedirs(into, exist_ok=True)
    for name in os.listdir(model):
        if name != "config.json" and not os.path.exists(os.path.join(into, name)):
            os.symlink(os.path.abspath(os.path.join(model, name)), os.path.join(into, name))
    with open(os.path.join(model, "config.json")) as f:
        cfg = json.load(f)
    cfg["captionai"] = section
    with open(os.path.join(into, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
        f.write("\n")


def score(devs, caps, out):
    """Per dev split: metrics of the shown captions and the model's words, subject hits per image."""
    table = {}
    for name, imgs, files in devs:
        refs = {i: caps[i] for i in imgs}
        hyp = {i: out[f][1] for i, f in zip(imgs, files)}
        sc = score_all(refs, hyp)
        table[name] = {"CIDEr-D": sc["CIDEr-D"], "BLEU-4": sc["BLEU-4"], **grounding.score(hyp, refs)}
    return table


def summary(table):
    """One log line's worth of score()'s table."""
    return " | ".join(f"{n} CIDEr-D {t['CIDEr-D']:.3f} subject {t['subject_named']:.3f} object halluc {t['chair_s']:.3f} "
                      f"person halluc {t['person_halluc']:.3f} repeated {t['repeated']:.3f}" for n, t in table.items())


def fit_logistic(x, y, l2=1e-2, steps=200):
    """Newton's method on the L2-regularised log-loss; features standardised inside."""
    mu, sd = x.mean(0), x.std(0) + 1e-9
    z = np.hstack([(x - mu) / sd, np.ones((len(x), 1))])
    w = np.zeros(z.shape[1])
    for _ in range(steps):
        p = 1 / (1 + np.exp(-z @ w))
        g = z.T @ (p - y) + l2 * np.r_[w[:-1], 0]
        h = (z * (p * (1 - p))[:, None]).T @ z + l2 * np.diag(np.r_[np.ones(len(w) - 1), 0])
        step = np.linalg.solve(h, g)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    # Back to raw features: w_i / sd_i, bias - sum(w_i mu_i / sd_i).
    raw = w[:-1] / sd
    return np.r_[raw, w[-1] - (w[:-1] * mu / sd).sum()]


def main(argv=None):
    args = parser().parse_args(argv)
    ns = argparse.Namespace(data=args.data, extra=args.extra)
    sets = datasets(ns)
    caps = read_all_captions(sets)
    devs = []
    for prefix, d in sets:
        imgs = read_splits([(prefix, d)], "dev", caps if prefix else None)
        devs.append((os.path.basename(d), imgs, [os.path.join(d, "images", i[len(prefix):]) for i in imgs]))
    files = [f for _, _, fs in devs for f in fs]
    if not args.bin:
        args.bin = os.path.join("training", "work", "eval", "captionai")
        subprocess.run(["go", "build", "-o", args.bin, "."], check=True)

    tmp = tempfile.mkdtemp(prefix="calibrate-")
    grid = []
    for setting in args.veto_grid.split(","):
        v = [float(x) for x in setting.split(":")]
        grid.append(v + [None, 0.0][len(v) - 2:])  # no cost, no top class kept
    mentions = []
    if any(g[2] is not None for g in grid):
        write_config(args.model, grounding_section(0, {"person": 0}), os.path.join(tmp, "no-veto"))
        mentions = train_mentions(args.bin, os.path.join(tmp, "no-veto"), sets, caps, args.jobs)
        print(f"{len(mentions)} object mentions in the training splits' captions, "
              f"{sum(not t for _, _, t in mentions)} of them hallucinated", flush=True)
    results, outs = [], {}
    for obj, person, cost, keep_top in grid:
        per_class = class_thresholds(obj, person, cost, mentions, args.min_named, args.min_threshold)
        folder = os.path.join(tmp, f"veto-{obj}-{person}-{cost}-{keep_top}")
        write_config(args.model, grounding_section(obj, per_class, keep_top), folder)
        outs[obj, person, cost, keep_top] = out = caption_all(args.bin, folder, files, args.jobs)
        table = score(devs, caps, out)
        results.append({"veto_below": obj, "person_veto_below": person, "class_cost": cost, "keep_top_above": keep_top,
                        "veto_below_class": per_class, "dev": table})
        print(f"veto object {obj} person {person} cost {cost} keep top {keep_top} ({len(per_class) - 1} classes): "
              + summary(table), flush=True)

    def mean(r, k):
        return sum(t[k] for t in r["dev"].values()) / len(r["dev"])

    def keep(rows):
        """The row with the fewest object + person hallucinations within the margins of the best."""
        best_cider = max(mean(r, "CIDEr-D") for r in rows)
        best_subject = max(mean(r, "subject_named") for r in rows)
        ok = [r for r in rows if mean(r, "CIDEr-D") >= best_cider - args.cider_margin
              and mean(r, "subject_named") >= best_subject - args.subject_margin]
        return min(ok, key=lambda r: (mean(r, "chair_s") + mean(r, "person_halluc"), -mean(r, "CIDEr-D")))
    chosen = keep(results)
    obj, person, cost, keep_top = (chosen[k] for k in ("veto_below", "person_veto_below", "class_cost", "keep_top_above"))
    print(f"chosen: object veto {obj}, person veto {person}, class cost {cost}, keep top {keep_top}", flush=True)

    # A hard ban turns a word the model is sure of into another ("dog" -> "bird") or into broken
    # grammar when the detector misses it; a penalty lets strong belief outweigh weak evidence.
    penalties = []
    for pen in (float(x) for x in args.penalty_grid.split(",")):
        if pen:
            folder = os.path.join(tmp, f"penalty-{pen}")
            write_config(args.model, grounding_section(obj, chosen["veto_below_class"], keep_top, penalty=pen), folder)
            pout = caption_all(args.bin, folder, files, args.jobs)
            table = score(devs, caps, pout)
        else:
            pout, table = outs[obj, person, cost, keep_top], chosen["dev"]
        penalties.append({"veto_penalty": pen, "dev": table, "out": pout})
        print(f"veto penalty {pen}: " + summary(table), flush=True)
    kept = keep(penalties)
    penalty, out = kept["veto_penalty"], kept["out"]
    print(f"chosen: veto penalty {penalty}", flush=True)
    x, y, split_of = [], [], []
    for name, imgs, fs in devs:
        for i, f in zip(imgs, fs):
            x.append(out[f][2])
            y.append(1.0 if grounding.subject_named(out[f][1], caps[i]) else 0.0)
            split_of.append(name)
    x, y, split_of = np.array(x), np.array(y), np.array(split_of)
    w = fit_logistic(x, y)
    p = 1 / (1 + np.exp(-(x @ w[:-1] + w[-1])))

    def precision_above(t, name):
        m = (split_of == name) & (p >= t)
        return (y[m].mean() if m.any() else 1.0), m.sum() / (split_of == name).sum()
    cands = np.unique(np.round(p, 4))
    probable = next((t for t in cands if all(precision_above(t, n)[0] >= args.precision for n, _, _ in devs)), 1.0)
    below = [t for t in cands if t <= probable and (p < t).any() and y[p < t].mean() <= args.unsure_precision]
    unsure = max(below) if below else 0.0
    calib = {"weights": list(map(float, w)), "features": ["mean_logprob", "min_logprob", "named", "named_score", "top_score"],
             "probable_below": float(probable), "unsure_below": float(unsure),
             "precision_target": args.precision, "per_split": {}}
    for name, _, _ in devs:
        m = split_of == name
        prec, share = precision_above(probable, name)
        calib["per_split"][name] = {
            "images": int(m.sum()), "subject_named": float(y[m].mean()),
            "above_threshold_share": float(share), "above_threshold_subject_named": float(prec),
            "unsure_share": float(((p < unsure) & m).sum() / m.sum()),
            "brier": float(((p[m] - y[m]) ** 2).mean()),
        }
        print(f"{name}: subject named {y[m].mean():.3f}; above {probable:.3f}: {share:.1%} of captions, "
              f"{prec:.1%} name the subject right; unsure (below {unsure:.3f}): {calib['per_split'][name]['unsure_share']:.1%}",
              flush=True)

    section = grounding_section(obj, chosen["veto_below_class"], keep_top, w, probable, unsure, penalty)
    write_config(args.model, section, tmp + "/final")
    shutil.copy(os.path.join(tmp, "final", "config.json"), os.path.join(args.model, "config.json"))
    # Reported, not tuned on: what the app shows on the main test split with the kept setting.
    prefix, main_dir = sets[0]
    test_imgs = read_splits([sets[0]], "test")
    test_files = [os.path.join(main_dir, "images", i) for i in test_imgs]
    test = score([(os.path.basename(main_dir) + " test", test_imgs, test_files)], caps,
                 caption_all(args.bin, tmp + "/final", test_files, args.jobs))
    for n, t in test.items():
        print(f"{n} with the kept setting: CIDEr-D {t['CIDEr-D']:.3f} subject {t['subject_named']:.3f} "
              f"object halluc {t['chair_s']:.3f} person halluc {t['person_halluc']:.3f}", flush=True)
    with open(os.path.join(args.model, "calibration.json"), "w") as f:
        json.dump({"veto_grid": results, "chosen": {"veto_below": obj, "person_veto_below": person,
                                                    "class_cost": cost, "keep_top_above": keep_top,
                                                    "veto_below_class": chosen["veto_below_class"],
                                                    "veto_penalty": penalty},
                   "penalty_grid": [{k: v for k, v in r.items() if k != "out"} for r in penalties],
                   "confidence": calib, "test": test}, f, indent=1)
        f.write("\n")
    shutil.rmtree(tmp)
    print(f"wrote {args.model}/config.json (captionai section) and calibration.json")


if __name__ == "__main__":
    main()
