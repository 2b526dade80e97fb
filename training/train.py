#!/usr/bin/python3
"""Stage 3: train the caption decoder on cached backbone features.

    /usr/bin/python3 -m training.train [--backbone B] [--epochs N] [--data DIR] [--extra DIR ...] ...

Reads training/work/features/<part>/ (or a finetune.py run's features with
--features-from), writes training/work/runs/<backbone>/best.pt (weights, config,
vocabulary) and log.jsonl. Early stopping on dev CIDEr-D with greedy decoding. Seeded;
CPU only. Defaults: training/recipe.toml. With --extra it trains on the union of the
datasets' train splits (the vocabulary too), and checkpoints are chosen by the mean dev CIDEr-D
over the datasets that have a dev split.
"""

import argparse
import json
import math
import os
import time

import numpy as np
import torch
from torch.optim.swa_utils import AveragedModel

from training import recipe
from training.backbones import BACKBONES
from training.crossentropy import batches, caption_loss, decay_groups, dev_sets, select_scores
from training.data import WORK, add_data_flags, dataset_of, datasets, describe, read_all_captions, read_split, read_splits, run_args
from training.features import Views, load_features, rows_of
from training.model import Captioner, Config
from training import coco
from training.text import PAD, build_vocab, caption_tensor


def parser():
    r = recipe.settings("train")
    ap = argparse.ArgumentParser(description="Stage 3: cross-entropy training on cached features.")
    ap.add_argument("--backbone", default=r["backbone"], choices=sorted(BACKBONES))
    add_data_flags(ap, r)
    ap.add_argument("--out", help="default training/work/runs/<backbone>")
    ap.add_argument("--epochs", type=int, default=r["epochs"])
    ap.add_argument("--batch", type=int, default=r["batch"], help="images per step (x5 captions)")
    ap.add_argument("--lr", type=float, default=r["lr"])
    ap.add_argument("--weight-decay", type=float, default=r["weight_decay"])
    ap.add_argument("--warmup", type=int, default=r["warmup"])
    ap.add_argument("--d-model", type=int, default=r["d_model"])
    ap.add_argument("--layers", type=int, default=r["layers"])
    ap.add_argument("--heads", type=int, default=r["heads"])
    ap.add_argument("--enc-layers", type=int, default=r["enc_layers"])
    ap.add_argument("--dropout", type=float, default=r["dropout"])
    ap.add_argument("--attn-dropout", type=float, default=r["attn_dropout"])
    ap.add_argument("--feat-dropout", type=float, default=r["feat_dropout"])
    ap.add_argument("--label-smoothing", type=float, default=r["label_smoothing"])
    ap.add_argument("--min-count", type=int, default=r["min_count"])
    ap.add_argument("--patience", type=int, default=r["patience"])
    ap.add_argument("--eval-from", type=int, default=r["eval_from"], help="first epoch scored on dev")
    ap.add_argument("--max-length", type=int, default=r["max_length"],
                    help="decoding length for dev scoring (start token included)")
    ap.add_argument("--max-tokens", type=int, default=r["max_tokens"], help="training captions are cut to this many tokens")
    ap.add_argument("--seed", type=int, default=r["seed"])
    ap.add_argument("--threads", type=int, default=r["threads"])
    ap.add_argument("--stop-epoch", type=int, default=0, help="end after this epoch (the LR schedule still spans --epochs)")
    ap.add_argument("--init", help="start from this checkpoint's weights (same vocabulary and sizes)")
    ap.add_argument("--features-from", help="a finetune.py run: train on its fine-tuned backbone's features "
                                            "(extract_features --run) and export that backbone")
    ap.add_argument("--time-limit", type=float, default=r["time_limit"], help="minutes; stop after the epoch that passes it")
    ap.add_argument("--extra-repeat", type=int, default=r["extra_repeat"],
                    help="times each extra dataset's training image is drawn per epoch")
    ap.add_argument("--ema", type=float, default=r["ema"], help="weight-average decay per step (0: off)")
    return ap


def main(argv=None):
    args = parser().parse_args(argv)
    torch.manual_seed(args.seed)
    rng = np.random.RandomState(args.seed)
    torch.set_num_threads(args.threads)
    sets = datasets(args)
    spec = BACKBONES[args.backbone]
    out = args.out or os.path.join(WORK, "runs", args.backbone)
    os.makedirs(out, exist_ok=True)

    caps = read_all_captions(sets)
    train, dev = read_splits(sets, "train", caps), read_split(sets[0][1], "dev")
    # Extra datasets' train images are drawn --extra-repeat times per epoch.
    train += [i for i in train if dataset_of(sets, i)[0]] * (args.extra_repeat - 1)
    if len(sets) > 1:
        print("train:", describe(sets, train, caps), flush=True)
    itos = build_vocab([c for i in train for c in caps[i]], args.min_count, coco.class_words())
    stoi = {w: i for i, w in enumerate(itos)}
    source = args.features_from and os.path.abspath(args.features_from)
    backbone_state = torch.load(os.path.join(source, "best.pt"))["backbone_state"] if source else None
    feats, row = load_features(args.backbone, source=source)
    cfg = Config(vocab_size=len(itos), n_embd=args.d_model, n_head=args.heads, n_layer=args.layers,
                 enc_layers=args.enc_layers, feat_channels=spec["channels"], grid=spec["grid"],
                 dropout=args.dropout, attn_dropout=args.attn_dropout, feat_dropout=args.feat_dropout)
    max_tokens = min(args.max_tokens, cfg.n_positions)
    tr_ids = caption_tensor(train, caps, stoi, max_tokens)
    devs = dev_sets(sets, caps, stoi, row, max_tokens)
    views = Views(args.backbone, train, feats, row, source)
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
        if epoch < args.eval_from and epoch < args.epochs:  # the last one is scored: a run needs a checkpoint
            print(json.dumps({"epoch": epoch, "step": step, "train_loss": tl / tn, "epoch_s": round(train_time, 1),
                              "elapsed_s": round(time.time() - t0, 1)}), flush=True)
            continue
        sc, hyps = select_scores(model, feats, devs, caps, itos, args.max_length)
        weights, state = "raw", model.state_dict()
        rec = {"epoch": epoch, "step": step, "train_loss": tl / tn, "dev_loss": sc["loss"],
               "dev_greedy": {k: round(v, 4) for k, v in sc.items() if k != "loss"},
               "lr": lr_at(step), "epoch_s": round(train_time, 1)}
        if ema:
            esc, ehyps = select_scores(ema.module, feats, devs, caps, itos, args.max_length)
            rec["ema_dev_greedy"] = {k: round(v, 4) for k, v in esc.items() if k != "loss"}
            if esc["select"] > sc["select"]:
                sc, hyps, weights, state = esc, ehyps, "ema", ema.module.state_dict()
        rec["elapsed_s"] = round(time.time() - t0, 1)
        print(json.dumps(rec), "|", weights, dev[0], "->", hyps[dev[0]], flush=True)
        log.write(json.dumps(rec) + "\n")
        log.flush()
        if sc["select"] > best:
            best, best_epoch, bad = sc["select"], epoch, 0
            torch.save({"config": cfg.to_dict(), "vocab": itos, "state_dict": state,
                        "backbone": args.backbone, "epoch": epoch, "weights": weights, "mirror": views.flips is not None,
                        "dev_greedy": {k: round(v, 4) for k, v in sc.items() if k != "loss"},
                        "args": run_args(args), "train_seconds": round(time.time() - t0, 1),
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
    print(f"best epoch {best_epoch}: dev greedy CIDEr-D (mean over dev splits) {best:.4f}; {time.time() - t0:.0f}s total", flush=True)


if __name__ == "__main__":
    main()
