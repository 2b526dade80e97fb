"""Cross-entropy training pieces that train, scst and finetune share: the caption loss,
AdamW's parameter groups, length-bucketed batches, and the dev scoring that picks
checkpoints."""

import os

import numpy as np
import torch
import torch.nn.functional as F

from training.data import read_splits
from training.decode import greedy_batch
from training.eval.metrics import evaluate as score_all  # coco-caption definitions
from training.features import rows_of
from training.text import BAD_WORDS, PAD, caption_tensor, decode


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


def dev_scores(model, feats, rows, imgs, caps, ids, itos, max_length, bs=200):
    """Greedy-decoding scores of imgs (features feats[rows]) and their caption loss
    ("loss"), with the captions."""
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


def dev_sets(sets, caps, stoi, row, max_tokens):
    """[(dataset name, images, feature rows, caption ids)] for the dev split of every dataset
    that has one, the main dataset first."""
    out = []
    for prefix, d in sets:
        dv = read_splits([(prefix, d)], "dev", caps if prefix else None)
        if dv:
            out.append((os.path.basename(d), dv, torch.tensor(rows_of(row, dv)), caption_tensor(dv, caps, stoi, max_tokens)))
    return out


def select_scores(model, feats, devs, caps, itos, max_length):
    """Greedy scores on the main dev split, plus "<dataset> CIDEr-D" for every other one and
    "select", the mean CIDEr-D over all of them: checkpoints are chosen by it, so that an extra
    dataset's photos count as much as the main one's."""
    sc, hyps = dev_scores(model, feats, devs[0][2], devs[0][1], caps, devs[0][3], itos, max_length)
    ciders = [sc["CIDEr-D"]]
    for name, imgs, rows, ids in devs[1:]:
        e, h = dev_scores(model, feats, rows, imgs, caps, ids, itos, max_length)
        sc[name + " CIDEr-D"] = e["CIDEr-D"]
        ciders.append(e["CIDEr-D"])
        hyps.update(h)
    sc["select"] = sum(ciders) / len(ciders)
    return sc, hyps
