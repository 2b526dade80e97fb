#!/usr/bin/python3
"""Stage 2: run the converted backbone once over all Flickr8k images.

    /usr/bin/python3 training/extract_features.py --backbone mobilenet_v2 [--data DIR]

Writes training/work/features/<backbone>/features.npy (float16, [images, grid*grid,
channels], row-major grid positions, as the exported encoder flattens them) and
names.txt. Preprocessing is common.preprocess, i.e. exactly what
preprocessor_config.json tells the Go app and transformers.js to do.

With --flip it writes the training images' mirror images to features/<backbone>_flip/
instead: a second view of each photo that train.py and scst.py draw from at random.

With --run RUN (a finetune.py run) it uses that run's fine-tuned backbone, all parts in
one pass, and writes to RUN/features/ (RUN/features_flip/ with --flip), where train.py
--features-from, scst.py and evaluate.py find them.
"""

import argparse
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import BACKBONES, WORK, data_dir, preprocess, read_split  # noqa: E402
from convert_backbone import load_backbone, load_finetuned  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--backbone", default="mobilenet_v2", choices=[b for b in sorted(BACKBONES) if "parts" not in BACKBONES[b]])
    ap.add_argument("--data")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--flip", action="store_true", help="mirror images of the training split only")
    ap.add_argument("--run", help="a finetune.py run: features of its fine-tuned backbone, in RUN/features[_flip]/")
    args = ap.parse_args()
    data = data_dir(args.data)
    torch.set_num_threads(args.threads)
    splits = ("train",) if args.flip else ("train", "dev", "test")
    if args.run:
        ck = torch.load(os.path.join(args.run, "best.pt"))
        args.backbone = ck["backbone"]
        g = load_finetuned(args.backbone, ck)
        out = os.path.join(args.run, "features" + ("_flip" if args.flip else ""))
    else:
        g, _ = load_backbone(args.backbone)
        out = os.path.join(WORK, "features", args.backbone + ("_flip" if args.flip else ""))
    spec = BACKBONES[args.backbone]
    os.makedirs(out, exist_ok=True)
    names = []
    for split in splits:
        names += read_split(data, split)
    n, cells, ch = len(names), spec["grid"] ** 2, spec["channels"]
    tmp = os.path.join(out, "features.tmp.npy")
    feats = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float16, shape=(n, cells, ch))
    t0 = time.time()
    for i in range(0, n, args.batch):
        chunk = names[i:i + args.batch]
        x = np.stack([preprocess(os.path.join(data, "images", nm), spec["size"]) for nm in chunk])
        if args.flip:
            x = np.ascontiguousarray(x[:, :, :, ::-1])  # mirroring the resized image = resizing the mirror
        with torch.no_grad():
            (f,) = g(torch.from_numpy(x))
        feats[i:i + len(chunk)] = f.flatten(2).transpose(1, 2).numpy().astype(np.float16)
        if (i // args.batch) % 20 == 0:
            el = time.time() - t0
            print(f"{i + len(chunk)}/{n} images, {el:.0f}s, {1000 * el / (i + len(chunk)):.1f} ms/image", flush=True)
    feats.flush()
    del feats
    os.replace(tmp, os.path.join(out, "features.npy"))
    with open(os.path.join(out, "names.txt"), "w") as f:
        f.write("\n".join(names) + "\n")
    print(f"wrote {out}/features.npy ({n} images) in {time.time() - t0:.0f}s")


if __name__ == "__main__":
    main()
