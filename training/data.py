"""Where things are: the repository, training/work/ (every stage's default output) and
the Flickr8k copy, with its splits and captions; extra datasets in the same layout
(--extra), whose images are keyed "<folder name>/<image name>"."""

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


def add_data_flags(ap, r):
    """--data (the main dataset) and the repeatable --extra (added to the recipe's `extra`)."""
    ap.add_argument("--data", help="the main dataset (default: FLICKR8K_DIR or ../shared/datasets/flickr8k)")
    ap.add_argument("--extra", action="append", default=list(r["extra"]), metavar="DIR",
                    help="another dataset in the Flickr8k layout, trained on beside the main one (repeatable)")


def datasets(args):
    """[(prefix, folder)]: the main dataset with prefix "" (its images keep their names),
    then each --extra with "<folder name>/" (images of different datasets may share names)."""
    sets = [("", data_dir(args.data))]
    for d in args.extra:
        d = os.path.abspath(d)
        if d in (f for _, f in sets[1:]):
            continue
        prefix = os.path.basename(d) + "/"
        if not os.path.exists(os.path.join(d, "captions.tsv")):
            raise SystemExit(f"--extra {d}: no captions.tsv (the Flickr8k layout is expected)")
        if d == sets[0][1] or prefix in (p for p, _ in sets) or any(c.isspace() for c in prefix):
            raise SystemExit(f"--extra {d}: the main dataset, or its folder name is another extra's or has "
                             "spaces (link it under another name)")
        sets.append((prefix, d))
    return sets


def read_splits(sets, split, caps=None):
    """Image keys of split in every dataset (an extra one may lack the split). With caps,
    extra images without captions are left out."""
    keys = []
    for prefix, d in sets:
        if prefix and not os.path.exists(os.path.join(d, "splits", split + ".txt")):
            continue
        names = [prefix + n for n in read_split(d, split)]
        if prefix and caps is not None:
            names = [n for n in names if caps.get(n)]
        keys += names
    return keys


def read_all_captions(sets):
    """{image key: captions} over every dataset."""
    caps = collections.defaultdict(list)
    for prefix, d in sets:
        for img, cs in read_captions(d).items():
            caps[prefix + img] = cs
    return caps


def dataset_of(sets, key):
    """(prefix, folder) of the dataset an image key belongs to."""
    for prefix, d in sets[1:]:
        if key.startswith(prefix):
            return prefix, d
    return sets[0]


def image_file(sets, key):
    prefix, d = dataset_of(sets, key)
    return os.path.join(d, "images", key[len(prefix):])


def describe(sets, imgs, caps):
    """What a stage trains on: images and image-caption pairs (at most 5 per image), per dataset."""
    n = collections.Counter()
    for i in imgs:
        prefix = dataset_of(sets, i)[0]
        n[prefix, "images"] += 1
        n[prefix, "pairs"] += min(len(caps[i]), 5)
    each = ", ".join(f"{os.path.basename(d)} {n[p, 'images']}/{n[p, 'pairs']}" for p, d in sets)
    return f"{len(imgs)} images, {sum(min(len(caps[i]), 5) for i in imgs)} caption pairs (images/pairs: {each})"


def run_args(args):
    """The flags a checkpoint records; an empty --extra is left out, as before there was one."""
    a = dict(vars(args))
    if not a.get("extra"):
        a.pop("extra", None)
    return a


def save_json(path, obj):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=1, ensure_ascii=False)
        f.write("\n")
