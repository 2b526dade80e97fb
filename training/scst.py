#!/usr/bin/python3
"""Stage 3b: self-critical sequence training on CIDEr-D (Rennie et al. 2017).

    /usr/bin/python3 training/scst.py --backbone mobilenet_v2+centernet [--data DIR]

Starts from the cross-entropy model in training/work/runs/<backbone>/best.pt. For each
training image it samples K captions, rewards each with its CIDEr-D against the image's
references (coco-caption's definition, document frequencies from all training
references) minus the mean reward of the image's other samples (Luo 2020's baseline:
no greedy pass needed), and follows the policy gradient. Writes
training/work/runs/<backbone>_scst/best.pt whenever dev greedy CIDEr-D improves; the
later stages take it with --run.
"""

import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "eval"))
from common import EOS, PAD, WORK, data_dir, decode, read_captions, read_split  # noqa: E402
from decode import ban  # noqa: E402
from evaluate import load_run  # noqa: E402
from metrics import _ngrams, cider_df, cider_sim, cider_vec, ptb_tokenize  # noqa: E402
from train import BAD_WORDS, Views, caption_loss, caption_tensor, evaluate, features_source, load_features  # noqa: E402


class Reward:
    """CIDEr-D of candidate word lists against fixed references, with document
    frequencies from the training references (as SCST implementations do)."""

    def __init__(self, refs):
        self.refs = {img: [_ngrams(ptb_tokenize(r).split(), 4) for r in rs] for img, rs in refs.items()}
        self.df = cider_df(list(self.refs.values()))
        self.log_n = math.log(float(len(self.refs)))
        self.ref_vecs = {img: [cider_vec(r, self.df, self.log_n) for r in rs] for img, rs in self.refs.items()}

    def __call__(self, img, words):
        vh = cider_vec(_ngrams(words, 4), self.df, self.log_n)
        refs = self.ref_vecs[img]
        return sum(cider_sim(vh, r) for r in refs) / 4 / len(refs) * 10.0


@torch.no_grad()
def sample(dec, enc, k, max_length, top_k):
    """k sampled captions per image (image-major rows): ids [rows, T] starting with BOS,
    EOS then PAD after the end. Each word is drawn from the top_k most likely: the
    label-smoothed model leaves ~10 % of its mass on the long tail, and samples from there
    only teach it to push rare words (which references do use) further down."""
    enc = enc.repeat_interleave(k, 0)
    cross = [blk.cross_kv(enc) for blk in dec.h]
    seqs = torch.full((enc.shape[0], 1), 1, dtype=torch.long, device=enc.device)
    done = torch.zeros(enc.shape[0], dtype=torch.bool, device=enc.device)
    pasts = None
    while seqs.shape[1] < max_length and not done.all():
        logits, pasts = dec(seqs[:, -1:], None, pasts, cross=cross)
        scores = ban(seqs.tolist(), logits[:, -1, :].clone(), 0, BAD_WORDS)
        top, idx = scores.topk(top_k, -1)
        tok = idx.gather(1, torch.multinomial(F.softmax(top, -1), 1))[:, 0]
        tok = torch.where(done, torch.full_like(tok, PAD), tok)
        seqs = torch.cat([seqs, tok[:, None]], 1)
        done |= tok == EOS
    return seqs


def scst_step(model, opt, f, imgs, itos, reward, k, max_length, top_k):
    """One policy-gradient step on images imgs with features f: k samples each, rewarded
    against the mean of the image's other samples. Returns the mean reward."""
    model.eval()  # sample without dropout
    seqs = sample(model.dec, model.head(f), k, max_length, top_k)
    words = [decode(q, itos).split() for q in seqs.tolist()]
    r = torch.tensor([reward(imgs[j // k], w) for j, w in enumerate(words)]).view(-1, k)
    adv = (r - (r.sum(1, keepdim=True) - r) / (k - 1)).view(-1).to(f.device)
    model.train()
    logp = -caption_loss(model, model.head(f), seqs, reduction="none").view(seqs.shape[0], -1)
    loss = -(adv[:, None] * logp).sum() / (seqs[:, 1:] != PAD).sum()
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    return float(r.mean())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--backbone", default="mobilenet_v2+centernet")
    ap.add_argument("--data")
    ap.add_argument("--run", help="cross-entropy run to start from (default runs/<backbone>)")
    ap.add_argument("--out", help="default runs/<backbone>_scst")
    ap.add_argument("--samples", type=int, default=5, help="captions sampled per image")
    ap.add_argument("--top-k", type=int, default=5, help="words drawn from the k most likely")
    ap.add_argument("--batch", type=int, default=16, help="images per step")
    ap.add_argument("--lr", type=float, default=2e-5)
    ap.add_argument("--decay-steps", type=int, default=0, help="LR falls linearly to a tenth over this many steps (0: constant)")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--eval-every", type=int, default=150, help="steps between dev scorings")
    ap.add_argument("--max-length", type=int, default=20)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--time-limit", type=float, default=17, help="minutes; stop at the first dev scoring past it")
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    rng = np.random.RandomState(args.seed)
    torch.set_num_threads(args.threads)
    data = data_dir(args.data)
    run = args.run or os.path.join(WORK, "runs", args.backbone)
    out = args.out or os.path.join(WORK, "runs", args.backbone + "_scst")
    os.makedirs(out, exist_ok=True)

    model, ck = load_run(run)
    itos = ck["vocab"]
    caps = read_captions(data)
    train, dev = read_split(data, "train"), read_split(data, "dev")
    source = features_source(ck, run)
    feats, row = load_features(args.backbone, source=source)
    views = Views(args.backbone, train, feats, row, source)
    reward = Reward({i: caps[i] for i in train})
    stoi = {w: i for i, w in enumerate(itos)}
    dv_ids = caption_tensor(dev, caps, stoi, min(24, model.c.n_positions))
    dv_rows = torch.tensor([row[i] for i in dev])
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)

    def score_dev():
        sc, _ = evaluate(model, feats, dv_rows, dev, caps, dv_ids, itos, args.max_length)
        return sc

    best = score_dev()
    print(json.dumps({"step": 0, "dev_greedy": {k: round(v, 4) for k, v in best.items()}}), flush=True)
    best_cider, step, t0, k = best["CIDEr-D"], 0, time.time(), args.samples
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
                if sc["CIDEr-D"] > best_cider:
                    best_cider = sc["CIDEr-D"]
                    torch.save(dict(ck, state_dict=model.state_dict(), dev_greedy=rec["dev_greedy"],
                                    scst={"args": vars(args), "step": step, "from": run,
                                          "seconds": round(time.time() - t0)}),
                               os.path.join(out, "best.pt"))
                if (time.time() - t0) / 60 > args.time_limit:
                    print(f"time limit {args.time_limit} min reached", flush=True)
                    print(f"best dev greedy CIDEr-D {best_cider:.4f}", flush=True)
                    return
    print(f"best dev greedy CIDEr-D {best_cider:.4f}", flush=True)


if __name__ == "__main__":
    main()
