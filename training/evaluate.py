#!/usr/bin/python3
"""Stage 4: pick decoding settings on dev and caption the test split.

    /usr/bin/python3 -m training.evaluate [--backbone B] [--run RUN] [--data DIR] [--extra DIR ...]

With the best checkpoint of RUN (default training/work/runs/<backbone>/): beam search on
dev for each combination of --beam-grid, --no-repeat-grid and --length-penalty-grid,
keeps the best by dev CIDEr-D (more beams only when they beat fewer by --beam-margin:
each beam costs decoder time), then captions the test split with it. Writes
decoding.json and metrics.json in the run folder and training/work/test_captions.tsv
(image<TAB>caption). Scores with training/eval/metrics.py; model_card adds
training/eval/score.py's numbers. Defaults: training/recipe.toml. Each --extra dataset
with a dev split is also scored there (the chosen setting and greedy), beside the main
dataset's test split ("extra_dev" in metrics.json).
"""

import argparse
import json
import os
import time

import torch

from training import recipe
from training.backbones import BACKBONES
from training.data import WORK, add_data_flags, datasets, read_all_captions, read_split, read_splits, save_json
from training.decode import beam_search_batch, greedy_batch
from training.eval.metrics import evaluate as score_all  # coco-caption definitions
from training.features import features_source, load_features, rows_of
from training.model import load_run
from training.text import BAD_WORDS, decode


def number_list(kind):
    """A grid flag: "3,5" -> [3, 5]."""
    return lambda s: [kind(x) for x in s.split(",")]


def setting(num_beams, no_repeat, length_penalty):
    """Label of one decoding setting in metrics.json's dev_beam."""
    return f"beams {num_beams}, no_repeat {no_repeat}, length_penalty {length_penalty:g}"


def caption_split(model, feats, rows, imgs, itos, num_beams, max_length, no_repeat, length_penalty=1.0):
    out = {}
    with torch.no_grad():
        if num_beams == 1:
            for s in range(0, len(imgs), 200):
                enc = model.head(feats[rows[s:s + 200]].float())
                for img, seq in zip(imgs[s:s + 200], greedy_batch(model.dec, enc, max_length, no_repeat, BAD_WORDS)):
                    out[img] = decode(seq, itos)
            return out
        for s in range(0, len(imgs), 250):
            enc = model.head(feats[rows[s:s + 250]].float())
            res = beam_search_batch(model.dec, enc, num_beams, max_length, no_repeat, BAD_WORDS, length_penalty)
            for img, (seq, _) in zip(imgs[s:s + 250], res):
                out[img] = decode(seq, itos)
    return out


def parser():
    r = recipe.settings("evaluate")
    ap = argparse.ArgumentParser(description="Stage 4: decoding settings on dev, test captions.")
    ap.add_argument("--backbone", default=r["backbone"], choices=sorted(BACKBONES))
    add_data_flags(ap, r)
    ap.add_argument("--run", help="default training/work/runs/<backbone>")
    ap.add_argument("--beam-grid", type=number_list(int), default=r["beam_grid"], help="e.g. 3,5")
    ap.add_argument("--max-length", type=int, default=r["max_length"])
    ap.add_argument("--no-repeat-grid", type=number_list(int), default=r["no_repeat_grid"], help="e.g. 0,3")
    ap.add_argument("--length-penalty-grid", type=number_list(float), default=r["length_penalty_grid"],
                    help="e.g. 0.7,1.0,1.3,1.6")
    ap.add_argument("--beam-margin", type=float, default=r["beam_margin"],
                    help="dev CIDEr-D that more beams must gain over fewer to be chosen")
    ap.add_argument("--threads", type=int, default=r["threads"])
    return ap


def main(argv=None):
    args = parser().parse_args(argv)
    torch.set_num_threads(args.threads)
    sets = datasets(args)
    data = sets[0][1]
    run = args.run or os.path.join(WORK, "runs", args.backbone)
    model, ck = load_run(run)
    itos = ck["vocab"]
    caps = read_all_captions(sets)
    feats, row = load_features(args.backbone, source=features_source(ck, run))
    dev, test = read_split(data, "dev"), read_split(data, "test")
    results = {"checkpoint_epoch": ck["epoch"], "dev_greedy": None, "dev_beam": {}, "test": {}}

    hy = caption_split(model, feats, rows_of(row, dev), dev, itos, 1, args.max_length, 0)
    results["dev_greedy"] = score_all({i: caps[i] for i in dev}, hy)
    print("dev greedy", json.dumps(results["dev_greedy"]), flush=True)
    best = {}  # beams -> best (beams, no_repeat, length_penalty) with that many
    for nb in args.beam_grid:
        for nr in args.no_repeat_grid:
            for lp in args.length_penalty_grid:
                t0 = time.time()
                hy = caption_split(model, feats, rows_of(row, dev), dev, itos, nb, args.max_length, nr, lp)
                sc = score_all({i: caps[i] for i in dev}, hy)
                key = setting(nb, nr, lp)
                results["dev_beam"][key] = sc
                print(f"dev {key}: {json.dumps(sc)} ({time.time() - t0:.0f}s)", flush=True)
                if nb not in best or sc["CIDEr-D"] > results["dev_beam"][setting(*best[nb])]["CIDEr-D"]:
                    best[nb] = (nb, nr, lp)
    cider = {b: results["dev_beam"][setting(*s)]["CIDEr-D"] for b, s in best.items()}
    nb = min(b for b in best if cider[b] >= max(cider.values()) - args.beam_margin)
    nb, nr, lp = best[nb]
    decoding = {"num_beams": nb, "max_length": args.max_length, "no_repeat_ngram_size": nr,
                "length_penalty": lp, "early_stopping": False, "bad_words_ids": BAD_WORDS}
    save_json(os.path.join(run, "decoding.json"), decoding)
    results["dev_setting"] = setting(nb, nr, lp)

    hy = caption_split(model, feats, [row[i] for i in test], test, itos, nb, args.max_length, nr, lp)
    results["test"]["beam"] = score_all({i: caps[i] for i in test}, hy)
    with open(os.path.join(WORK, "test_captions.tsv"), "w", encoding="utf-8") as f:
        for img in test:
            f.write(f"{img}\t{hy[img]}\n")
    hg = caption_split(model, feats, [row[i] for i in test], test, itos, 1, args.max_length, nr)
    results["test"]["greedy"] = score_all({i: caps[i] for i in test}, hg)
    results["decoding"] = decoding
    extra = {}  # the extra datasets' dev splits, with the setting chosen on the main dev split
    for prefix, d in sets[1:]:
        dv = read_splits([(prefix, d)], "dev", caps)
        if dv:
            rows, refs = rows_of(row, dv), {i: caps[i] for i in dv}
            beam = caption_split(model, feats, rows, dv, itos, nb, args.max_length, nr, lp)
            greedy = caption_split(model, feats, rows, dv, itos, 1, args.max_length, nr)
            extra[prefix[:-1]] = {"images": len(dv), "beam": score_all(refs, beam), "greedy": score_all(refs, greedy)}
    if extra:
        results["extra_dev"] = extra
    save_json(os.path.join(run, "metrics.json"), results)
    print(f"test {results['dev_setting']}:", json.dumps(results["test"]["beam"]))
    print("test greedy:", json.dumps(results["test"]["greedy"]))
    for name, sc in extra.items():
        print(f"{name} dev ({sc['images']} images) {results['dev_setting']}:", json.dumps(sc["beam"]))
        print(f"{name} dev greedy:", json.dumps(sc["greedy"]))
    if extra:
        t = results["test"]["beam"]
        print(f"side by side, {results['dev_setting']}: {os.path.basename(data)} test BLEU-4 {t['BLEU-4']:.3f} "
              f"CIDEr-D {t['CIDEr-D']:.3f}" + "".join(f" | {name} dev BLEU-4 {sc['beam']['BLEU-4']:.3f} CIDEr-D "
                                                    f"{sc['beam']['CIDEr-D']:.3f}" for name, sc in extra.items()))
    print(f"wrote {run}/metrics.json, decoding.json and {WORK}/test_captions.tsv")


if __name__ == "__main__":
    main()
