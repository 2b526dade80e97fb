"""Cached backbone features (written by extract_features): loading them, and drawing each
training image as the photo or its mirror image."""

import os

import numpy as np
import torch

from training.backbones import parts
from training.data import WORK


def load_features(backbone, flip=False, source=None):
    """Cached features; a combination's parts are concatenated on channels. flip: the
    training images' mirror-image features (extract_features --flip). source: a
    finetune.py run whose fine-tuned backbone's features sit in source/features[_flip]/."""
    if source:
        d = os.path.join(source, "features_flip" if flip else "features")
        if not os.path.exists(os.path.join(d, "features.npy")):
            raise SystemExit(f"no features in {d}: run python3 -m training.extract_features --run {source}"
                             + (" --flip" if flip else ""))
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


def rows_of(row, imgs):
    """Feature rows of imgs, or an error naming an image the cache lacks."""
    missing = [i for i in imgs if i not in row]
    if missing:
        raise SystemExit(f"no cached features of {len(missing)} images (e.g. {missing[0]}): run "
                         "python3 -m training.extract_features with the same --data and --extra")
    return [row[i] for i in imgs]


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
        self.feats, self.rows = feats, torch.tensor(rows_of(row, imgs))
        self.flips = None
        flip_dir = os.path.join(source, "features_flip") if source else \
            os.path.join(WORK, "features", parts(backbone)[0] + "_flip")
        if os.path.exists(os.path.join(flip_dir, "features.npy")):
            self.flips, frow = load_features(backbone, flip=True, source=source)
            self.frows = torch.tensor(rows_of(frow, imgs))
        print(f"training views: {'photo + mirror image' if self.flips is not None else 'photo only'}", flush=True)

    def get(self, idx, rng):
        """float features of training images idx (positions in imgs)."""
        f = self.feats[self.rows[idx]].float()
        if self.flips is not None:
            m = torch.from_numpy(rng.rand(len(idx)) < 0.5)
            if m.any():
                f[m] = self.flips[self.frows[idx[m]]].float()
        return f
