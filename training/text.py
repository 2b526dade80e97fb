"""Captions as token ids: the word-level tokenisation that tokenizer.json reproduces, the
vocabulary, and the padded id tensors training reads."""

import collections
import re

import torch

SPECIALS = ["<pad>", "<bos>", "<eos>", "<unk>"]
PAD, BOS, EOS, UNK = 0, 1, 2, 3
BAD_WORDS = [[PAD], [BOS], [UNK]]  # never generated


def words(caption):
    """Lowercase, keep letters/digits only: the tokenizer.json normalizer does the same."""
    return re.sub(r"[^a-z0-9 ]+", " ", caption.lower()).split()


def build_vocab(captions, min_count, always=()):
    """Words seen at least min_count times, and every word of always (the COCO class names)."""
    cnt = collections.Counter(w for c in captions for w in words(c))
    kept = sorted({w for w, n in cnt.items() if n >= min_count} | set(always), key=lambda w: (-cnt[w], w))
    return SPECIALS + kept


def encode(caption, stoi):
    return [BOS] + [stoi.get(w, UNK) for w in words(caption)] + [EOS]


def decode(ids, itos):
    return " ".join(itos[i] for i in ids if i >= len(SPECIALS))


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
