#!/usr/bin/python3
"""Stage 4: pick decoding settings on dev and caption the test split.

    /usr/bin/python3 training/evaluate.py --backbone mobilenet_v2+centernet [--data DIR]

With the best checkpoint of training/work/runs/<backbone>/: beam search (3 beams)
on dev for each no_repeat_ngram_size in --no-repeat-grid, keeps the best by dev
CIDEr-D, then captions the test split with it. Writes decoding.json and
metrics.json in the run folder and training/work/test_captions.tsv
(image<TAB>caption). Scores with training/eval/metrics.py; export.py adds
training/eval/score.py's numbers when that scorer exists.
"""

import argparse
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import BACKBONES, WORK, data_dir, decode, read_captions, read_split, save_json  # noqa: E402
from decode import beam_search_batch, greedy_batch  # noqa: E402
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "eval"))
from metrics import evaluate as score_all  # noqa: E402  (coco-caption definitions, training/eval)
from model import Captioner, Config  # noqa: E402
from train import BAD_WORDS, load_features  # noqa: E402


def load_run(run_dir):
    ck = torch.load(os.path.join(run_dir, "best.pt"))
    model = Captioner(Config(**ck["config"]))
    model.load_state_dict(ck["state_dict"])
    return model.eval(), ck


def caption_split(model, feats, rows, imgs, itos, num_beams, max_length, no_repeat):
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
            res = beam_search_batch(model.dec, enc, num_beams, max_length, no_repeat, BAD_WORDS)
            for img, (seq, _) in zip(imgs[s:s + 250], res):
                out[img] = decode(seq, itos)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--backbone", default="mobilenet_v2+centernet", choices=sorted(BACKBONES))
    ap.add_argument("--data")
    ap.add_argument("--run")
    ap.add_argument("--num-beams", type=int, default=3)
    ap.add_argument("--max-length", type=int, default=20)
    ap.add_argument("--no-repeat-grid", default="0,3")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    data = data_dir(args.data)
    run = args.run or os.path.join(WORK, "runs", args.backbone)
    model, ck = load_run(run)
    itos = ck["vocab"]
    caps = read_captions(data)
    feats, row = load_features(args.backbone)
    dev, test = read_split(data, "dev"), read_split(data, "test")
    results = {"checkpoint_epoch": ck["epoch"], "dev_greedy": None, "dev_beam": {}, "test": {}}

    hy = caption_split(model, feats, [row[i] for i in dev], dev, itos, 1, args.max_length, 0)
    results["dev_greedy"] = score_all({i: caps[i] for i in dev}, hy)
    print("dev greedy", json.dumps(results["dev_greedy"]), flush=True)
    best = None
    for nr in [int(x) for x in args.no_repeat_grid.split(",")]:
        t0 = time.time()
        hy = caption_split(model, feats, [row[i] for i in dev], dev, itos, args.num_beams, args.max_length, nr)
        sc = score_all({i: caps[i] for i in dev}, hy)
        results["dev_beam"][str(nr)] = sc
        print(f"dev beam{args.num_beams} no_repeat_ngram_size={nr}: {json.dumps(sc)} ({time.time() - t0:.0f}s)", flush=True)
        if best is None or sc["CIDEr-D"] > results["dev_beam"][str(best)]["CIDEr-D"]:
            best = nr
    decoding = {"num_beams": args.num_beams, "max_length": args.max_length, "no_repeat_ngram_size": best,
                "length_penalty": 1.0, "early_stopping": False, "bad_words_ids": BAD_WORDS}
    save_json(os.path.join(run, "decoding.json"), decoding)

    hy = caption_split(model, feats, [row[i] for i in test], test, itos, args.num_beams, args.max_length, best)
    results["test"]["beam"] = score_all({i: caps[i] for i in test}, hy)
    with open(os.path.join(WORK, "test_captions.tsv"), "w", encoding="utf-8") as f:
        for img in test:
            f.write(f"{img}\t{hy[img]}\n")
    hg = caption_split(model, feats, [row[i] for i in test], test, itos, 1, args.max_length, best)
    results["test"]["greedy"] = score_all({i: caps[i] for i in test}, hg)
    results["decoding"] = decoding
    save_json(os.path.join(run, "metrics.json"), results)
    print(f"test beam{args.num_beams} (no_repeat {best}):", json.dumps(results["test"]["beam"]))
    print("test greedy:", json.dumps(results["test"]["greedy"]))
    print(f"wrote {run}/metrics.json, decoding.json and {WORK}/test_captions.tsv")


if __name__ == "__main__":
    main()
