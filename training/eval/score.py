#!/usr/bin/env python3
"""Score generated captions against Flickr8k's references (coco-caption metrics).

    python3 training/eval/score.py --captions FILE [--data DIR] [--split test]
    python3 training/eval/score.py --human [--data DIR] [--split test]

FILE has one ``image<TAB>caption`` line per image (a path is reduced to its
file name, so the Go CLI's ``path<TAB>caption`` output works as is). Every
image of the split must have exactly one caption, or the script fails and
lists the missing ones; captions for images outside the split are ignored
(with a note). ``--limit N`` scores only the first N images of the split
(for quick partial runs; CIDEr-D's idf then comes from those N images only,
so such numbers are not comparable with full-split ones).

``--human`` scores human agreement instead: one reference caption per image
(number ``--human-ref``, 0-based, default 0) against the other four, and with
``--human-ref all`` the mean over the five leave-one-out rotations.

DIR defaults to $FLICKR8K_DIR, else ../shared/datasets/flickr8k relative to
the repository root. METEOR is not computed (see training/eval/README.md).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import defaultdict
from typing import Dict, List

import metrics

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


def default_data_dir() -> str:
    return os.environ.get("FLICKR8K_DIR") or os.path.normpath(os.path.join(REPO, "..", "shared", "datasets", "flickr8k"))


def load_references(data: str) -> Dict[str, List[str]]:
    path = os.path.join(data, "captions.tsv")
    refs: Dict[str, List[str]] = defaultdict(list)
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line:
                continue
            name, sep, cap = line.partition("\t")
            if not sep:
                raise SystemExit(f"score.py: {path}:{n}: no TAB in line")
            refs[name].append(cap)
    return dict(refs)


def load_split(data: str, split: str) -> List[str]:
    path = os.path.join(data, "splits", f"{split}.txt")
    if not os.path.exists(path):
        raise SystemExit(f"score.py: no split file {path}")
    with open(path, encoding="utf-8") as f:
        return [ln.strip() for ln in f if ln.strip()]


def load_candidates(path: str) -> Dict[str, str]:
    out: Dict[str, str] = {}
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n").rstrip("\r")
            if not line.strip():
                continue
            name, sep, cap = line.partition("\t")
            if not sep:
                raise SystemExit(f"score.py: {path}:{n}: expected 'image<TAB>caption'")
            name = os.path.basename(name.strip())
            if name in out and out[name] != cap:
                raise SystemExit(f"score.py: {path}:{n}: second, different caption for {name}")
            out[name] = cap
    return out


def format_table(scores: Dict[str, float], n_images: int, title: str) -> str:
    rows = [(k, f"{scores[k]:.4f}") for k in ["BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4"]]
    rows.append(("METEOR", "n/a (not implemented)"))
    rows += [(k, f"{scores[k]:.4f}") for k in ["ROUGE-L", "CIDEr-D"]]
    rows.append(("images", str(n_images)))
    w = max(len(k) for k, _ in rows)
    lines = [title, "-" * max(len(title), w + 24)]
    lines += [f"{k:<{w}}  {v}" for k, v in rows]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=default_data_dir(), help="Flickr8k folder (default: $FLICKR8K_DIR or ../shared/datasets/flickr8k)")
    ap.add_argument("--captions", help="generated captions, image<TAB>caption per line")
    ap.add_argument("--split", default="test", help="split name under DIR/splits (default test)")
    ap.add_argument("--limit", type=int, default=0, help="score only the first N images of the split")
    ap.add_argument("--human", action="store_true", help="score one reference per image against the other four")
    ap.add_argument("--human-ref", default="0", help="which reference is the candidate with --human: 0..4 or 'all' (default 0)")
    ap.add_argument("--json", action="store_true", help="print the scores as JSON instead of a table")
    args = ap.parse_args(argv)

    if not args.human and not args.captions:
        ap.error("give --captions FILE (or --human)")
    refs = load_references(args.data)
    images = load_split(args.data, args.split)
    if args.limit:
        images = images[: args.limit]
    missing_refs = [i for i in images if not refs.get(i)]
    if missing_refs:
        raise SystemExit(f"score.py: {len(missing_refs)} split images have no reference caption, e.g. {missing_refs[:5]}")

    if args.human:
        which = range(5) if args.human_ref == "all" else [int(args.human_ref)]
        runs = []
        for r in which:
            gts, res = {}, {}
            for i in images:
                rs = refs[i]
                if r >= len(rs):
                    raise SystemExit(f"score.py: {i} has only {len(rs)} references")
                res[i] = rs[r]
                gts[i] = rs[:r] + rs[r + 1:]
            runs.append(metrics.evaluate(gts, res))
        scores = {k: sum(s[k] for s in runs) / len(runs) for k in runs[0]}
        title = (f"Human agreement on Flickr8k {args.split}: reference "
                 f"{'#1..#5 (mean of 5 rotations)' if args.human_ref == 'all' else '#' + str(int(args.human_ref) + 1)}"
                 f" vs the other 4")
    else:
        cands = load_candidates(args.captions)
        missing = [i for i in images if i not in cands]
        if missing:
            sys.stderr.write(f"score.py: {len(missing)} of {len(images)} {args.split} images have no caption in {args.captions}:\n")
            for i in missing[:20]:
                sys.stderr.write(f"  {i}\n")
            if len(missing) > 20:
                sys.stderr.write(f"  ... and {len(missing) - 20} more\n")
            return 1
        extra = len(set(cands) - set(images))
        if extra:
            sys.stderr.write(f"score.py: note: ignoring {extra} captions for images outside the scored {args.split} images\n")
        gts = {i: refs[i] for i in images}
        res = {i: cands[i] for i in images}
        scores = metrics.evaluate(gts, res)
        title = f"{args.captions} on Flickr8k {args.split}" + (f" (first {args.limit} images)" if args.limit else "")

    if args.json:
        print(json.dumps({"split": args.split, "images": len(images), **scores}, indent=1))
    else:
        print(format_table(scores, len(images), title))
    return 0


if __name__ == "__main__":
    sys.exit(main())
