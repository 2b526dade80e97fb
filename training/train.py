#!/usr/bin/python3
"""Stage 3: train the caption decoder on cached backbone features.

    /usr/bin/python3 training/train.py --backbone mobilenet_v2+centernet [--data DIR] [--epochs 12]

Reads training/work/features/<backbone>/, writes training/work/runs/<backbone>/
best.pt (weights, config, vocabulary) and log.jsonl. Early stopping on dev
CIDEr-D with greedy decoding. Seeded; CPU only.
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
from torch.optim.swa_utils import AveragedModel

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import BACKBONES, PAD, WORK, build_vocab, data_dir, decode, encode, parts, read_captions, read_split  # noqa: E402
from decode import greedy_batch  # noqa: E402
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "eval"))
from metrics import evaluate as score_all  # noqa: E402  (coco-caption definitions, training/eval)
from model import Captioner, Config  # noqa: E402

BAD_WORDS = [[0], [1], [3]]  # <pad>, <bos>, <unk> are never generated


def load_features(backbone, flip=False, source=None):
    """Cached features; a combination's parts are concatenated on channels. flip: the
    training images' mirror-image features (extract_features.py --flip). source: a
    finetune.py run whose fine-tuned backbone's features sit in source/features[_flip]/."""
    if source:
        d = os.path.join(source, "features_flip" if flip else "features")
        if not os.path.exists(os.path.join(d, "features.npy")):
            raise SystemExit(f"no features in {d}: run extract_features.py --run {source}" + (" --flip" if flip else ""))
        names = open(os.path.join(d, "names.txt")).read().split()
        return torch.from_numpy(np.load(os.path.join(d, "features.npy"))), {n: i for i, n in enumerate(names)}
    feats, names = [], None
    for part in parts(backbone):
        d = os.path.join(WORK, "features", part + ("_flip" if flip else ""))
        n = open(os.path.join(d, "names.txt")).read().split()
        if names is not None and n != names:
            raise SystemExit(f"features of {part} list other images than {parts(backbone)[0]}")
        names = n
        feats.append(np.load(os.path.join(d, "features.npy")))
    feats = torch.from_numpy(feats[0] if len(feats) == 1 else np.concatenate(feats, axis=2))
    return feats, {n: i for i, n in enumerate(names)}


def features_source(ck, run):
    """Where a checkpoint's features come from: the finetune.py run it was trained on, or
    the run itself when it is a finetune.py run; None for the converted backbone's cache."""
    if ck.get("features_from"):
        return ck["features_from"]
    return run if ck.get("backbone_state") else None


class Views:
    """Draws each training image's features from the photo or, when flip features exist,
    its mirror image, with equal chance."""

    def __init__(self, backbone, imgs, feats, row, source=None):
        self.feats, self.rows = feats, torch.tensor([row[i] for i in imgs])
        self.flips = None
        flip_dir = os.path.join(source, "features_flip") if source else \
            os.path.join(WORK, "features", parts(backbone)[0] + "_flip")
        if os.path.exists(os.path.join(flip_dir, "features.npy")):
            self.flips, frow = load_features(backbone, flip=True, source=source)
            self.frows = torch.tensor([frow[i] for i in imgs])
        print(f"training views: {'photo + mirror image' if self.flips is not None else 'photo only'}", flush=True)

    def get(self, idx, rng):
        """float features of training images idx (positions in imgs)."""
        f = self.feats[self.rows[idx]].float()
        if self.flips is not None:
            m = torch.from_numpy(rng.rand(len(idx)) < 0.5)
            if m.any():
                f[m] = self.flips[self.frows[idx[m]]].float()
        return f


def caption_tensor(imgs, caps, stoi, max_tokens):
    """[images, 5, max_tokens] ids, PAD-filled; long captions are cut (eos kept)."""
    out = torch.full((len(imgs), 5, max_tokens), PAD, dtype=torch.long)
    for i, img in enumerate(imgs):
        for j, c in enumerate(caps[img][:5]):
            ids = encode(c, stoi)
            if len(ids) > max_tokens:
                ids = ids[:max_tokens - 1] + ids[-1:]
            out[i, j, :len(ids)] = torch.tensor(ids)
    return out


def batches(rng, lengths, bs, chunk=16):
    """Shuffled batches of image indices, bucketed by caption length within chunks of
    `chunk` batches so that little padding is computed."""
    perm = rng.permutation(len(lengths))
    out = []
    for s in range(0, len(perm), bs * chunk):
        part = perm[s:s + bs * chunk]
        part = part[np.argsort(lengths[part], kind="stable")]
        out += [part[i:i + bs] for i in range(0, len(part), bs)]
    order = rng.permutation(len(out))
    return [torch.from_numpy(out[i]) for i in order]


def decay_groups(model, weight_decay):
    """AdamW groups: weight decay on matrices, none on biases, norms and position embeddings."""
    def decays(n, p):
        return p.dim() >= 2 and "wpe" not in n and n not in ("head.row", "head.col")
    return [{"params": [p for n, p in model.named_parameters() if decays(n, p)], "weight_decay": weight_decay},
            {"params": [p for n, p in model.named_parameters() if not decays(n, p)], "weight_decay": 0.0}]


def caption_loss(model, enc, x, label_smoothing=0.0, reduction="mean"):
    """Teacher-forced cross-entropy of captions x [images * 5, T] (PAD-filled) given the
    images' encoder states enc [images, cells, d]."""
    logits, _ = model.dec(x[:, :-1], enc, rep=x.shape[0] // enc.shape[0])
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), x[:, 1:].reshape(-1), ignore_index=PAD,
                           label_smoothing=label_smoothing, reduction=reduction)


def evaluate(model, feats, rows, imgs, caps, ids, itos, max_length, bs=200):
    model.eval()
    hyps, tot, n = {}, 0.0, 0
    with torch.no_grad():
        for s in range(0, len(imgs), bs):
            f = feats[rows[s:s + bs]].float()
            enc = model.head(f)
            x = ids[s:s + bs].to(enc.device)
            T = int((x != PAD).sum(-1).max())
            x = x[:, :, :T].reshape(-1, T)
            tot += float(caption_loss(model, enc, x, reduction="sum"))
            n += int((x[:, 1:] != PAD).sum())
            for img, seq in zip(imgs[s:s + bs], greedy_batch(model.dec, enc, max_length, bad_words=BAD_WORDS)):
                hyps[img] = decode(seq, itos)
    sc = score_all({i: caps[i] for i in imgs}, hyps)
    sc["loss"] = tot / n
    return sc, hyps


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--backbone", default="mobilenet_v2+centernet", choices=sorted(BACKBONES))
    ap.add_argument("--data")
    ap.add_argument("--out")
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--batch", type=int, default=32, help="images per step (x5 captions)")
    ap.add_argument("--lr", type=float, default=7e-4)
    ap.add_argument("--weight-decay", type=float, default=0.05)
    ap.add_argument("--warmup", type=int, default=300)
    ap.add_argument("--d-model", type=int, default=256)
    ap.add_argument("--layers", type=int, default=3)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--enc-layers", type=int, default=1)
    ap.add_argument("--dropout", type=float, default=0.3)
    ap.add_argument("--attn-dropout", type=float, default=0.1)
    ap.add_argument("--feat-dropout", type=float, default=0.1)
    ap.add_argument("--label-smoothing", type=float, default=0.1)
    ap.add_argument("--min-count", type=int, default=5)
    ap.add_argument("--patience", type=int, default=4)
    ap.add_argument("--eval-from", type=int, default=4, help="first epoch scored on dev")
    ap.add_argument("--max-length", type=int, default=20, help="decoding length for dev scoring (start token included)")
    ap.add_argument("--max-tokens", type=int, default=24, help="training captions are cut to this many tokens")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--stop-epoch", type=int, default=0, help="end after this epoch (the LR schedule still spans --epochs)")
    ap.add_argument("--init", help="start from this checkpoint's weights (same vocabulary and sizes)")
    ap.add_argument("--features-from", help="a finetune.py run: train on its fine-tuned backbone's features "
                                            "(extract_features.py --run) and export that backbone")
    ap.add_argument("--time-limit", type=float, default=50, help="minutes; stop after the epoch that passes it")
    ap.add_argument("--ema", type=float, default=0.999, help="weight-average decay per step (0: off)")
    args = ap.parse_args()

    torch.manual_seed(args.seed)
    rng = np.random.RandomState(args.seed)
    torch.set_num_threads(args.threads)
    data = data_dir(args.data)
    spec = BACKBONES[args.backbone]
    out = args.out or os.path.join(WORK, "runs", args.backbone)
    os.makedirs(out, exist_ok=True)

    caps = read_captions(data)
    train, dev = read_split(data, "train"), read_split(data, "dev")
    itos = build_vocab([c for i in train for c in caps[i]], args.min_count)
    stoi = {w: i for i, w in enumerate(itos)}
    source = args.features_from and os.path.abspath(args.features_from)
    backbone_state = torch.load(os.path.join(source, "best.pt"))["backbone_state"] if source else None
    feats, row = load_features(args.backbone, source=source)
    cfg = Config(vocab_size=len(itos), n_embd=args.d_model, n_head=args.heads, n_layer=args.layers,
                 enc_layers=args.enc_layers, feat_channels=spec["channels"], grid=spec["grid"],
                 dropout=args.dropout, attn_dropout=args.attn_dropout, feat_dropout=args.feat_dropout)
    max_tokens = min(args.max_tokens, cfg.n_positions)
    tr_ids = caption_tensor(train, caps, stoi, max_tokens)
    dv_ids = caption_tensor(dev, caps, stoi, max_tokens)
    views = Views(args.backbone, train, feats, row, source)
    dv_rows = torch.tensor([row[i] for i in dev])
    tr_len = (tr_ids != PAD).sum(-1).max(-1).values.numpy()  # longest of each image's captions
    model = Captioner(cfg)
    if args.init:
        ck0 = torch.load(args.init)
        if ck0["vocab"] != itos or {k: v for k, v in ck0["config"].items() if k not in ("dropout", "attn_dropout", "feat_dropout")} != \
                {k: v for k, v in cfg.to_dict().items() if k not in ("dropout", "attn_dropout", "feat_dropout")}:
            raise SystemExit(f"--init {args.init}: vocabulary or sizes differ")
        model.load_state_dict(ck0["state_dict"])
        print(f"initialised from {args.init} (epoch {ck0['epoch']}, dev greedy {ck0.get('dev_greedy')})", flush=True)
    nparams = sum(p.numel() for p in model.parameters())
    print(f"vocab {len(itos)} (min count {args.min_count}), {nparams / 1e6:.2f}M params, config {cfg.to_dict()}",
          flush=True)

    opt = torch.optim.AdamW(decay_groups(model, args.weight_decay), lr=args.lr, betas=(0.9, 0.98))
    steps_per_epoch = math.ceil(len(train) / args.batch)
    total = steps_per_epoch * args.epochs

    def lr_at(step):
        if step < args.warmup:
            return args.lr * (step + 1) / args.warmup
        p = (step - args.warmup) / max(1, total - args.warmup)
        return args.lr * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(p, 1.0))))

    # Weight average, scored on dev beside the raw weights.
    ema = AveragedModel(model, avg_fn=lambda avg, p, n: args.ema * avg + (1 - args.ema) * p) if args.ema else None
    log = open(os.path.join(out, "log.jsonl"), "w")
    best, best_epoch, bad, step = -1.0, 0, 0, 0
    t0 = time.time()
    for epoch in range(1, args.epochs + 1):
        model.train()
        te, tl, tn = time.time(), 0.0, 0
        for idx in batches(rng, tr_len, args.batch):
            f = views.get(idx, rng)
            x = tr_ids[idx]
            T = int((x != PAD).sum(-1).max())
            x = x[:, :, :T].reshape(-1, T)
            loss = caption_loss(model, model.head(f), x, args.label_smoothing)
            for g in opt.param_groups:
                g["lr"] = lr_at(step)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            if ema:
                ema.update_parameters(model)
            step += 1
            tl += float(loss)
            tn += 1
        train_time = time.time() - te
        if epoch < args.eval_from:
            print(json.dumps({"epoch": epoch, "step": step, "train_loss": tl / tn, "epoch_s": round(train_time, 1),
                              "elapsed_s": round(time.time() - t0, 1)}), flush=True)
            continue
        sc, hyps = evaluate(model, feats, dv_rows, dev, caps, dv_ids, itos, args.max_length)
        weights, state = "raw", model.state_dict()
        rec = {"epoch": epoch, "step": step, "train_loss": tl / tn, "dev_loss": sc["loss"],
               "dev_greedy": {k: round(v, 4) for k, v in sc.items() if k != "loss"},
               "lr": lr_at(step), "epoch_s": round(train_time, 1)}
        if ema:
            esc, ehyps = evaluate(ema.module, feats, dv_rows, dev, caps, dv_ids, itos, args.max_length)
            rec["ema_dev_greedy"] = {k: round(v, 4) for k, v in esc.items() if k != "loss"}
            if esc["CIDEr-D"] > sc["CIDEr-D"]:
                sc, hyps, weights, state = esc, ehyps, "ema", ema.module.state_dict()
        rec["elapsed_s"] = round(time.time() - t0, 1)
        print(json.dumps(rec), "|", weights, dev[0], "->", hyps[dev[0]], flush=True)
        log.write(json.dumps(rec) + "\n")
        log.flush()
        if sc["CIDEr-D"] > best:
            best, best_epoch, bad = sc["CIDEr-D"], epoch, 0
            torch.save({"config": cfg.to_dict(), "vocab": itos, "state_dict": state,
                        "backbone": args.backbone, "epoch": epoch, "weights": weights, "mirror": views.flips is not None,
                        "dev_greedy": {k: round(v, 4) for k, v in sc.items() if k != "loss"},
                        "args": vars(args), "train_seconds": round(time.time() - t0, 1),
                        "features_from": source, "backbone_state": backbone_state},
                       os.path.join(out, "best.pt"))
        else:
            bad += 1
            if bad >= args.patience:
                print(f"early stop: no dev CIDEr-D gain for {bad} epochs", flush=True)
                break
        if args.stop_epoch and epoch >= args.stop_epoch:
            print(f"stopping after epoch {epoch} (--stop-epoch)", flush=True)
            break
        if (time.time() - t0) / 60 > args.time_limit:
            print(f"time limit {args.time_limit} min reached", flush=True)
            break
    print(f"best epoch {best_epoch}: dev greedy CIDEr-D {best:.4f}; {time.time() - t0:.0f}s total", flush=True)


if __name__ == "__main__":
    main()
