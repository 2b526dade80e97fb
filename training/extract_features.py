#!/usr/bin/python3
"""Stage 2: run the converted backbone once over all Flickr8k images.

    /usr/bin/python3 -m training.extract_features [--backbone B] [--flip] [--data DIR] [--extra DIR ...]

Writes training/work/features/<part>/features.npy (float16, [images, grid*grid,
channels], row-major grid positions, as the exported encoder flattens them) and
names.txt, for each part of B (default: the recipe's backbone). Preprocessing is
images.preprocess, i.e. exactly what preprocessor_config.json tells the Go app and
transformers.js to do.

With --flip it writes the training images' mirror images to features/<part>_flip/
instead: a second view of each photo that train and scst draw from at random.

With --run RUN (a finetune.py run) it uses that run's fine-tuned backbone, all parts in
one pass, and writes to RUN/features/ (RUN/features_flip/ with --flip), where train
--features-from, scst and evaluate find them.

Each --extra dataset's train, dev and test images (those it has) go into the same files,
named "<folder name>/<image name>"; the main dataset's keep their names.
"""

import argparse
import os
import time

import numpy as np
import torch

from training import recipe
from training.backbones import BACKBONES, load_backbone, load_finetuned, parts
from training.data import WORK, add_data_flags, datasets, image_file, read_splits
from training.images import preprocess


def cached(out, names):
    """Whether out already holds features of every image in names."""
    if not all(os.path.exists(os.path.join(out, f)) for f in ("features.npy", "names.txt")):
        return False
    with open(os.path.join(out, "names.txt")) as f:
        return set(names) <= set(f.read().split())


def extract(g, spec, files, names, out, flip, batch):
    os.makedirs(out, exist_ok=True)
    n, cells, ch = len(names), spec["grid"] ** 2, spec["channels"]
    tmp = os.path.join(out, "features.tmp.npy")
    feats = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float16, shape=(n, cells, ch))
    t0 = time.time()
    for i in range(0, n, batch):
        chunk = files[i:i + batch]
        x = np.stack([preprocess(p, spec["size"]) for p in chunk])
        if flip:
            x = np.ascontiguousarray(x[:, :, :, ::-1])  # mirroring the resized image = resizing the mirror
        with torch.no_grad():
            (f,) = g(torch.from_numpy(x))
        feats[i:i + len(chunk)] = f.flatten(2).transpose(1, 2).numpy().astype(np.float16)
        if (i // batch) % 20 == 0:
            el = time.time() - t0
            print(f"{i + len(chunk)}/{n} images, {el:.0f}s, {1000 * el / (i + len(chunk)):.1f} ms/image", flush=True)
    feats.flush()
    del feats
    os.replace(tmp, os.path.join(out, "features.npy"))
    with open(os.path.join(out, "names.txt"), "w") as f:
        f.write("\n".join(names) + "\n")
    print(f"wrote {out}/features.npy ({n} images) in {time.time() - t0:.0f}s")


def parser():
    r = recipe.settings("extract_features")
    ap = argparse.ArgumentParser(description="Stage 2: cache backbone features of every image.")
    ap.add_argument("--backbone", default=r["backbone"], choices=sorted(BACKBONES),
                    help="a combination extracts each of its parts (default: the recipe's)")
    add_data_flags(ap, r)
    ap.add_argument("--batch", type=int, default=r["batch"])
    ap.add_argument("--threads", type=int, default=r["threads"])
    ap.add_argument("--flip", action="store_true", help="mirror images of the training split only")
    ap.add_argument("--run", help="a finetune.py run: features of its fine-tuned backbone, in RUN/features[_flip]/")
    ap.add_argument("--reuse", action="store_true", help="skip a cache that already holds every image (run.sh)")
    return ap


def main(argv=None):
    args = parser().parse_args(argv)
    sets = datasets(args)
    torch.set_num_threads(args.threads)
    names = []  # the main dataset's images first, as before there were extras
    for s in sets:
        for split in ("train",) if args.flip else ("train", "dev", "test"):
            names += read_splits([s], split)
    files = [image_file(sets, n) for n in names]
    suffix = "_flip" if args.flip else ""
    if args.run:
        out = os.path.join(args.run, "features" + suffix)
        if args.reuse and cached(out, names):
            return print(f"{out}: all {len(names)} images cached")
        ck = torch.load(os.path.join(args.run, "best.pt"))
        g = load_finetuned(ck["backbone"], ck)
        return extract(g, BACKBONES[ck["backbone"]], files, names, out, args.flip, args.batch)
    for part in parts(args.backbone):
        out = os.path.join(WORK, "features", part + suffix)
        if args.reuse and cached(out, names):
            print(f"{out}: all {len(names)} images cached")
            continue
        g, _ = load_backbone(part)
        extract(g, BACKBONES[part], files, names, out, args.flip, args.batch)


if __name__ == "__main__":
    main()
