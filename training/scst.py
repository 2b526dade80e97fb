#!/usr/bin/python3
"""Stage 3b: self-critical sequence training on CIDEr-D (Rennie et al. 2017).

    /usr/bin/python3 -m training.scst [--backbone B] [--run RUN] [--data DIR] [--extra DIR ...] ...

Starts from the cross-entropy model in training/work/runs/<backbone>/best.pt. For each
training image it samples K captions, rewards each with its CIDEr-D against the image's
references (coco-caption's definition, document frequencies from all training
references) minus the mean reward of the image's other samples (Luo 2020's baseline:
no greedy pass needed), and follows the policy gradient. Writes
training/work/runs/<backbone>_scst/best.pt whenever dev greedy CIDEr-D improves; the
later stages take it with --run. Defaults: training/recipe.toml. With --extra it trains
on the union of the datasets' train splits, and keeps the best mean dev CIDEr-D over the
datasets that have a dev split.
"""

import argparse
import json
import os
import time

import numpy as np
import torch

from training import recipe
from training.crossentropy import dev_sets, select_scores
from training.data import WORK, add_data_flags, datasets, describe, read_all_captions, read_splits, run_args
from training.features import Views, features_source, load_features
from training.model import load_run
from training.selfcritical import Reward, scst_step


def parser():
    r = recipe.settings("scst")
    ap = argparse.ArgumentParser(description="Stage 3b: self-critical training on CIDEr-D.")
    ap.add_argument("--backbone", default=r["backbone"])
    add_data_flags(ap, r)
    ap.add_argument("--run", help="cross-entropy run to start from (default training/work/runs/<backbone>)")
    ap.add_argument("--out", help="default training/work/runs/<backbone>_scst")
    ap.add_argument("--samples", type=int, default=r["samples"], help="captions sampled per image")
    ap.add_argument("--top-k", type=int, default=r["top_k"], help="words drawn from the k most likely")
    ap.add_argument("--batch", type=int, default=r["batch"], help="images per step")
    ap.add_argument("--lr", type=float, default=r["lr"])
    ap.add_argument("--decay-steps", type=int, default=r["decay_steps"],
                    help="LR falls linearly to a tenth over this many steps (0: constant)")
    ap.add_argument("--epochs", type=int, default=r["epochs"])
    ap.add_argument("--eval-every", type=int, default=r["eval_every"], help="steps between dev scorings")
    ap.add_argument("--max-length", type=int, default=r["max_length"])
    ap.add_argument("--seed", type=int, default=r["seed"])
    ap.add_argument("--threads", type=int, default=r["threads"])
    ap.add_argument("--time-limit", type=float, default=r["time_limit"], help="minutes; stop at the first dev scoring past it")
    return ap


def main(argv=None):
    args = parser().parse_args(argv)
    torch.manual_seed(args.seed)
    rng = np.random.RandomState(args.seed)
    torch.set_num_threads(args.threads)
    sets = datasets(args)
    run = args.run or os.path.join(WORK, "runs", args.backbone)
    out = args.out or os.path.join(WORK, "runs", args.backbone + "_scst")
    os.makedirs(out, exist_ok=True)

    model, ck = load_run(run)
    itos = ck["vocab"]
    caps = read_all_captions(sets)
    train = read_splits(sets, "train", caps)
    if len(sets) > 1:
        print("train:", describe(sets, train, caps), flush=True)
    source = features_source(ck, run)
    feats, row = load_features(args.backbone, source=source)
    views = Views(args.backbone, train, feats, row, source)
    reward = Reward({i: caps[i] for i in train})
    stoi = {w: i for i, w in enumerate(itos)}
    devs = dev_sets(sets, caps, stoi, row, min(24, model.c.n_positions))
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)

    def score_dev():
        sc, _ = select_scores(model, feats, devs, caps, itos, args.max_length)
        return sc

    best = score_dev()
    print(json.dumps({"step": 0, "dev_greedy": {k: round(v, 4) for k, v in best.items()}}), flush=True)
    best_cider, step, t0, k = best["select"], 0, time.time(), args.samples
    log = open(os.path.join(out, "log.jsonl"), "w")
    for epoch in range(1, args.epochs + 1):
        order = rng.permutation(len(train))
        for s in range(0, len(order), args.batch):
            idx = torch.from_numpy(order[s:s + args.batch])
            imgs = [train[i] for i in idx.tolist()]
            f = views.get(idx, rng)
            if args.decay_steps:
                for g in opt.param_groups:
                    g["lr"] = args.lr * max(0.1, 1 - 0.9 * step / args.decay_steps)
            mean_reward = scst_step(model, opt, f, imgs, itos, reward, k, args.max_length, args.top_k)
            step += 1
            if step % 25 == 0:
                print(json.dumps({"epoch": epoch, "step": step, "mean_reward": round(mean_reward, 4),
                                  "elapsed_s": round(time.time() - t0)}), flush=True)
            if step % args.eval_every == 0:
                sc = score_dev()
                rec = {"epoch": epoch, "step": step, "dev_greedy": {k2: round(v, 4) for k2, v in sc.items()},
                       "elapsed_s": round(time.time() - t0)}
                print(json.dumps(rec), flush=True)
                log.write(json.dumps(rec) + "\n")
                log.flush()
                if sc["select"] > best_cider:
                    best_cider = sc["select"]
                    torch.save(dict(ck, state_dict=model.state_dict(), dev_greedy=rec["dev_greedy"],
                                    scst={"args": run_args(args), "step": step, "from": run,
                                          "seconds": round(time.time() - t0)}),
                               os.path.join(out, "best.pt"))
                if (time.time() - t0) / 60 > args.time_limit:
                    print(f"time limit {args.time_limit} min reached", flush=True)
                    print(f"best dev greedy CIDEr-D {best_cider:.4f}", flush=True)
                    return
    print(f"best dev greedy CIDEr-D {best_cider:.4f}", flush=True)


if __name__ == "__main__":
    main()
