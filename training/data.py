"""Where things are: the repository, training/work/ (every stage's default output) and
the Flickr8k copy, with its splits and captions."""

import collections
import json
import os

TRAINING = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(TRAINING)
WORK = os.path.join(TRAINING, "work")


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


def save_json(path, obj):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=1, ensure_ascii=False)
        f.write("\n")
