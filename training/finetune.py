#!/usr/bin/env python3
"""Optional GPU stage: train the captioner on the images themselves, with the top of the
backbone unfrozen part of the way in, then self-critical training on CIDEr-D.

    python3 -m training.finetune [--backbone B] [--unfreeze top] [--out DIR] [--data DIR] [--extra DIR ...] ...

What train + scst do on cached features, but each step runs the backbone on a randomly
cropped and mirrored copy of the photo, so its upper layers can learn from the
captions. Schedules run on wall-clock time (--minutes, --scst-minutes) so that a run
fits a lent GPU's time; with --unfreeze none the backbone stays frozen (the control).
Writes <out>/best.pt (default training/work/runs/finetune_<unfreeze>): train's
checkpoint format plus backbone_state, the trained backbone layers rounded to float16
(export stores float16-exact weights at half size). Needs a CUDA device unless
--device cpu (for a smoke test). Defaults: training/recipe.toml ([finetune], [model]).
With --extra it trains on the union of the datasets' train splits; dev is the main one's.
"""

import argparse
import json
import math
import os
import time
from multiprocessing import Pool

import numpy as np
import torch
import torch.nn.functional as F

from training import recipe
from training.backbones import BACKBONES, load_backbone, trainable
from training.crossentropy import batches, caption_loss, decay_groups, dev_scores
from training.data import (WORK, add_data_flags, datasets, describe, image_file, read_all_captions, read_split,
                           read_splits, run_args)
from training.images import MEAN, RESCALE, STD, resized
from training.model import Captioner, Config, Encoder
from training.selfcritical import Reward, scst_step
from training import coco
from training.text import PAD, build_vocab, caption_tensor


def load_pixels(sets, names, size, workers):
    """uint8 [N, 3, size, size], resized exactly as images.preprocess does."""
    paths = [image_file(sets, n) for n in names]
    with Pool(workers) as pool:
        arrs = pool.starmap(resized, [(p, size) for p in paths], chunksize=64)
    return torch.from_numpy(np.stack(arrs)).permute(0, 3, 1, 2).contiguous()


def normalize(u8):
    mean = torch.tensor(MEAN, device=u8.device).view(1, 3, 1, 1)
    std = torch.tensor(STD, device=u8.device).view(1, 3, 1, 1)
    return (u8.float() * RESCALE - mean) / std


def augment(x, gen, min_area):
    """A random crop (area min_area..1, aspect 3:4..4:3, stretched back to full size),
    mirrored half the time; one affine resampling per image."""
    b = x.shape[0]
    u = torch.rand(b, 4, generator=gen, device=x.device)
    area = min_area + (1 - min_area) * u[:, 0]
    aspect = torch.exp((u[:, 1] - 0.5) * 2 * math.log(4 / 3))
    sx = torch.sqrt(area * aspect).clamp(max=1.0)
    sy = torch.sqrt(area / aspect).clamp(max=1.0)
    tx = (2 * u[:, 2] - 1) * (1 - sx)
    ty = (2 * u[:, 3] - 1) * (1 - sy)
    flip = torch.where(torch.rand(b, generator=gen, device=x.device) < 0.5, -1.0, 1.0)
    theta = torch.zeros(b, 2, 3, device=x.device)
    theta[:, 0, 0], theta[:, 0, 2], theta[:, 1, 1], theta[:, 1, 2] = sx * flip, tx, sy, ty
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


@torch.no_grad()
def features(enc, pixels, mirror=False, bs=256):
    """Backbone features [N, cells, channels] (float16) of uint8 pixels, optionally mirrored."""
    out = []
    for s in range(0, len(pixels), bs):
        x = normalize(pixels[s:s + bs].to(enc.head.proj.weight.device, non_blocking=True))
        out.append(enc.features(x.flip(3) if mirror else x).half())
    return torch.cat(out)


def parser():
    r = recipe.settings("finetune")
    ap = argparse.ArgumentParser(description="GPU stage: fine-tune the backbones' upper layers with the decoder.")
    ap.add_argument("--backbone", default=r["backbone"], choices=sorted(BACKBONES))
    add_data_flags(ap, r)
    ap.add_argument("--out", help="default training/work/runs/finetune_<unfreeze>")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--unfreeze", default=r["unfreeze"], choices=["none", "top", "all"])
    ap.add_argument("--unfreeze-at", type=float, default=r["unfreeze_at"], help="share of --minutes before the backbone trains")
    ap.add_argument("--minutes", type=float, default=r["minutes"], help="cross-entropy training time")
    ap.add_argument("--scst-minutes", type=float, default=r["scst_minutes"], help="self-critical training time (0: none)")
    ap.add_argument("--batch", type=int, default=r["batch"], help="images per step (x5 captions)")
    ap.add_argument("--lr", type=float, default=r["lr"])
    ap.add_argument("--backbone-lr", type=float, default=r["backbone_lr"])
    ap.add_argument("--weight-decay", type=float, default=r["weight_decay"])
    ap.add_argument("--warmup", type=int, default=r["warmup"], help="steps")
    ap.add_argument("--min-area", type=float, default=r["min_area"], help="smallest crop, as a share of the photo")
    ap.add_argument("--d-model", type=int, default=r["d_model"])
    ap.add_argument("--layers", type=int, default=r["layers"])
    ap.add_argument("--heads", type=int, default=r["heads"])
    ap.add_argument("--enc-layers", type=int, default=r["enc_layers"])
    ap.add_argument("--dropout", type=float, default=r["dropout"])
    ap.add_argument("--attn-dropout", type=float, default=r["attn_dropout"])
    ap.add_argument("--feat-dropout", type=float, default=r["feat_dropout"])
    ap.add_argument("--label-smoothing", type=float, default=r["label_smoothing"])
    ap.add_argument("--min-count", type=int, default=r["min_count"])
    ap.add_argument("--eval-from", type=float, default=r["eval_from"], help="share of --minutes before dev scoring starts")
    ap.add_argument("--scst-lr", type=float, default=r["scst_lr"])
    ap.add_argument("--scst-eval-every", type=int, default=r["scst_eval_every"])
    ap.add_argument("--max-length", type=int, default=r["max_length"])
    ap.add_argument("--max-tokens", type=int, default=r["max_tokens"])
    ap.add_argument("--limit", type=int, default=0, help="use only this many training and dev images (smoke test)")
    ap.add_argument("--workers", type=int, default=r["workers"])
    ap.add_argument("--seed", type=int, default=r["seed"])
    ap.add_argument("--threads", type=int, default=r["threads"])
    return ap


def main(argv=None):
    args = parser().parse_args(argv)
    args.out = args.out or os.path.join(WORK, "runs", f"finetune_{args.unfreeze}")
    if args.minutes <= 0:
        raise SystemExit("--minutes must be positive: the cross-entropy stage picks the checkpoint")
    t_start = time.time()
    torch.manual_seed(args.seed)
    rng = np.random.RandomState(args.seed)
    torch.set_num_threads(args.threads)
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    torch.backends.cudnn.benchmark = True
    dev_ = torch.device(args.device)
    sets = datasets(args)
    spec = BACKBONES[args.backbone]
    os.makedirs(args.out, exist_ok=True)
    log = open(os.path.join(args.out, "log.jsonl"), "w")

    def note(rec):
        rec["elapsed_s"] = round(time.time() - t_start, 1)
        print(json.dumps(rec), flush=True)
        log.write(json.dumps(rec) + "\n")
        log.flush()

    caps = read_all_captions(sets)
    train, dev = read_splits(sets, "train", caps), read_split(sets[0][1], "dev")
    if len(sets) > 1:
        print("train:", describe(sets, train, caps), flush=True)
    itos = build_vocab([c for i in train for c in caps[i]], args.min_count, coco.class_words())  # before --limit: the real vocabulary
    if args.limit:
        train, dev = train[:args.limit], dev[:args.limit]
    stoi = {w: i for i, w in enumerate(itos)}
    cfg = Config(vocab_size=len(itos), n_embd=args.d_model, n_head=args.heads, n_layer=args.layers,
                 enc_layers=args.enc_layers, feat_channels=spec["channels"], grid=spec["grid"],
                 dropout=args.dropout, attn_dropout=args.attn_dropout, feat_dropout=args.feat_dropout)
    # Decode the photos before CUDA starts: the worker processes are forked.
    tr_px = load_pixels(sets, train, spec["size"], args.workers)
    dv_px = load_pixels(sets, dev, spec["size"], args.workers)
    tr_px, dv_px = tr_px.to(dev_), dv_px.to(dev_)
    gen = torch.Generator(device=dev_)
    gen.manual_seed(args.seed)
    tr_ids = caption_tensor(train, caps, stoi, min(args.max_tokens, cfg.n_positions)).to(dev_)
    dv_ids = caption_tensor(dev, caps, stoi, min(args.max_tokens, cfg.n_positions))
    tr_len = (tr_ids != PAD).sum(-1).max(-1).values.cpu().numpy()
    note({"loaded": {"train": len(train), "dev": len(dev), "vocab": len(itos)}})

    backbone, _ = load_backbone(args.backbone)
    cap = Captioner(cfg)
    enc = Encoder(backbone, cap.head).to(dev_)
    cap.to(dev_)
    bb_train = [(n, p) for n, p in backbone.named_parameters() if trainable(n, args.unfreeze)]
    if args.unfreeze != "none" and not bb_train:
        raise SystemExit(f"--unfreeze {args.unfreeze}: no layer of {args.backbone} matches (backbones.TOP knows MobileNetV2 and CenterNet)")
    note({"backbone_trained": {"tensors": len(bb_train), "params": sum(p.numel() for _, p in bb_train),
                               "of": sum(p.numel() for p in backbone.parameters())}})
    groups = decay_groups(cap, args.weight_decay)
    if bb_train:
        groups.append({"params": [p for _, p in bb_train], "weight_decay": 0.0})
    opt = torch.optim.AdamW(groups, lr=args.lr, betas=(0.9, 0.98))

    def cosine(p):
        return 0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(p, 1.0)))

    def score(dv_f):
        """Dev greedy scores (and captions) from the dev photos' features."""
        return dev_scores(cap, dv_f, torch.arange(len(dev), device=dev_), dev, caps, dv_ids, itos, args.max_length)

    def score_dev():
        enc.eval()
        return score(features(enc, dv_px))

    def snapshot():
        return ({k: v.detach().cpu().clone() for k, v in cap.state_dict().items()},
                {n: p.detach().cpu().half() for n, p in bb_train})

    # Cross-entropy, on wall-clock progress p = trained seconds / budget.
    budget = args.minutes * 60
    best, best_state, step, unfrozen, unfreeze_step, epoch = -1.0, None, 0, False, 0, 0
    trained = 0.0
    while trained < budget:
        epoch += 1
        tl, tn, te = 0.0, 0, time.time()
        for idx in batches(rng, tr_len, args.batch):
            t_step = time.time()
            p = trained / budget
            if p >= 1:
                break
            if bb_train and not unfrozen and p >= args.unfreeze_at:
                unfrozen, unfreeze_step = True, step
                for _, prm in bb_train:
                    prm.requires_grad_(True)
                note({"unfreeze": {"step": step, "epoch": epoch}})
            opt.param_groups[0]["lr"] = opt.param_groups[1]["lr"] = \
                args.lr * min(1.0, (step + 1) / args.warmup) * cosine(p)
            if bb_train:
                opt.param_groups[2]["lr"] = args.backbone_lr * min(1.0, (step - unfreeze_step + 1) / args.warmup) * \
                    cosine(p) if unfrozen else 0.0
            idx = idx.to(dev_)
            x = augment(normalize(tr_px[idx]), gen, args.min_area)
            cap.train()
            with torch.set_grad_enabled(unfrozen):
                f = enc.features(x)
            xs = tr_ids[idx]
            T = int((xs != PAD).sum(-1).max())
            loss = caption_loss(cap, cap.head(f), xs[:, :, :T].reshape(-1, T), args.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_([q for g in groups for q in g["params"]], 1.0)
            opt.step()
            step += 1
            tl, tn = tl + float(loss.detach()), tn + 1
            trained += time.time() - t_step
        rec = {"epoch": epoch, "step": step, "progress": round(min(trained / budget, 1.0), 3),
               "train_loss": round(tl / max(tn, 1), 4), "epoch_s": round(time.time() - te, 1),
               "ms_per_step": round(1000 * (time.time() - te) / max(tn, 1), 1)}
        if trained / budget >= args.eval_from or trained >= budget:
            sc, hyps = score_dev()
            rec["dev_loss"] = round(sc.pop("loss"), 4)
            rec["dev_greedy"] = {k: round(v, 4) for k, v in sc.items()}
            rec["sample"] = f"{dev[0]} -> {hyps[dev[0]]}"
            if sc["CIDEr-D"] > best:
                best, best_state, best_epoch = sc["CIDEr-D"], snapshot(), epoch
        note(rec)
    xe_steps = step
    note({"cross_entropy_best": {"epoch": best_epoch, "dev_greedy_cider": best, "steps": step}})
    cap.load_state_dict(best_state[0])
    for n, prm in bb_train:
        prm.data.copy_(best_state[1][n].float())  # the float16-rounded weights that get exported
        prm.requires_grad_(False)

    def save(dev_greedy, scst_info):
        torch.save({"config": cfg.to_dict(), "vocab": itos, "state_dict": snapshot()[0], "backbone": args.backbone,
                    "backbone_state": best_state[1], "epoch": best_epoch, "weights": "raw", "mirror": True,
                    "dev_greedy": dev_greedy, "args": run_args(args), "train_seconds": round(time.time() - t_start, 1),
                    "finetune": {"unfreeze": args.unfreeze, "trained_tensors": len(bb_train), "xe_steps": xe_steps},
                    "scst": scst_info}, os.path.join(args.out, "best.pt"))

    enc.eval()
    dv_f = features(enc, dv_px)  # the rounded backbone's, fixed from here on
    sc, _ = score(dv_f)
    sc.pop("loss")
    best_cider = sc["CIDEr-D"]
    note({"scst_step": 0, "dev_greedy": {k: round(v, 4) for k, v in sc.items()}})
    save({k: round(v, 4) for k, v in sc.items()}, None)
    if args.scst_minutes <= 0:
        return
    # Self-critical training on fixed features of each photo and its mirror image.
    tr_f, tr_fm = features(enc, tr_px), features(enc, tr_px, mirror=True)
    reward = Reward({i: caps[i] for i in train})
    opt = torch.optim.Adam(cap.parameters(), lr=args.scst_lr)
    t0, step, k = time.time(), 0, 5
    done = False
    while not done:
        order = rng.permutation(len(train))
        for s in range(0, len(order), args.batch):
            p = (time.time() - t0) / (args.scst_minutes * 60)
            done = p >= 1
            if step and (step % args.scst_eval_every == 0 or done):
                sc, _ = score(dv_f)
                sc.pop("loss")
                note({"scst_step": step, "dev_greedy": {k2: round(v, 4) for k2, v in sc.items()}})
                if sc["CIDEr-D"] > best_cider:
                    best_cider = sc["CIDEr-D"]
                    save({k2: round(v, 4) for k2, v in sc.items()}, {"step": step, "lr": args.scst_lr,
                                                                      "seconds": round(time.time() - t0)})
            if done:
                break
            idx = torch.from_numpy(order[s:s + args.batch]).to(dev_)
            mirror = torch.from_numpy(rng.rand(len(idx)) < 0.5).to(dev_)
            f = torch.where(mirror[:, None, None], tr_fm[idx], tr_f[idx]).float()
            for g in opt.param_groups:
                g["lr"] = args.scst_lr * (1 - 0.9 * p)
            r = scst_step(cap, opt, f, [train[i] for i in idx.tolist()], itos, reward, k, args.max_length, 5)
            step += 1
            if step % 50 == 0:
                note({"scst_step": step, "mean_reward": round(r, 4)})
    note({"best_dev_greedy_cider": best_cider})


if __name__ == "__main__":
    main()
