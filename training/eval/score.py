#!/usr/bin/env python3
"""Score generated captions against Flickr8k's references (coco-caption metrics).

    python3 training/eval/score.py --captions FILE [--data DIR] [--split test]
    python3 training/eval/score.py --human [--data DIR] [--split test]
    python3 training/eval/score.py --table A.json B.json ...   # side by side

DIR is a dataset in the Flickr8k layout (captions.tsv, splits/SPLIT.txt): Flickr8k, or
coco-mini. Besides BLEU/ROUGE-L/CIDEr-D it prints grounding.py's rates: subject named,
object and person hallucination, repeated words.

FILE has one ``image<TAB>caption`` line per image (a path is reduced to its
file name, so the Go CLI's ``path<TAB>caption`` output works as is; further
TAB-separated columns, e.g. a confidence, are ignored). Every
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

import grounding
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
            cap = cap.split("\t", 1)[0]  # extra columns (the app's confidence) are not the caption
            if name in out and out[name] != cap:
                raise SystemExit(f"score.py: {path}:{n}: second, different caption for {name}")
            out[name] = cap
    return out


def dataset_name(data: str) -> str:
    name = os.path.basename(os.path.normpath(data))
    return "Flickr8k" if name.lower() == "flickr8k" else name


def format_table(scores: Dict[str, float], n_images: int, title: str) -> str:
    rows = [(k, f"{scores[k]:.4f}") for k in ["BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4"]]
    rows.append(("METEOR", "n/a (not implemented)"))
    rows += [(k, f"{scores[k]:.4f}") for k in ["ROUGE-L", "CIDEr-D"]]
    rows.append(("images", str(n_images)))
    if "subject_named" in scores:
        pn = scores["person_n"]
        pn = f"{pn:.0f}" if float(pn).is_integer() else f"{pn:.1f}"
        rows += [
            ("subject named", f"{scores['subject_named']:.4f}  (caption's subject noun in a reference)"),
            ("object halluc.", f"{scores['chair_s']:.4f}  (captions naming a COCO object no reference mentions; CHAIR-s)"),
            ("  per mention", f"{scores['chair_i']:.4f}  (of the named COCO objects; CHAIR-i; "
                              f"{scores['objects_named']:.1%} of captions name one)"),
            ("person halluc.", f"{scores['person_halluc']:.4f}  (of the {pn} images whose references name no person)"),
            ("repeated word", f"{scores['repeated']:.4f}  (a content word twice or more)"),
            ("  immediate", f"{scores['immediate']:.4f}  (a word twice in a row)"),
        ]
    w = max(len(k) for k, _ in rows)
    lines = [title, "-" * max(len(title), w + 24)]
    lines += [f"{k:<{w}}  {v}" for k, v in rows]
    return "\n".join(lines)


TABLE_COLUMNS = ["dataset", "images", "BLEU-4", "CIDEr-D", "subject named", "object halluc.",
                 "person halluc. (n)", "repeated word"]


def side_by_side(results: List[dict]) -> str:
    """One markdown row per score.py --json result."""
    lines = ["| " + " | ".join(TABLE_COLUMNS) + " |", "|" + " --- |" * len(TABLE_COLUMNS)]
    for r in results:
        label = f"{r.get('dataset', '?')} {r.get('split', '')}".strip()
        if r.get("limit"):
            label += f" (first {r['limit']})"
        if r.get("human_ref") is not None:
            label += " human (" + ("mean of rotations" if r["human_ref"] == "all" else f"ref #{int(r['human_ref']) + 1}") + ")"
        pn = r["person_n"]
        pn = f"{pn:.0f}" if float(pn).is_integer() else f"{pn:.1f}"
        cells = [label, str(r["images"]), f"{r['BLEU-4']:.4f}", f"{r['CIDEr-D']:.4f}", f"{r['subject_named']:.3f}",
                 f"{r['chair_s']:.3f}", f"{r['person_halluc']:.3f} ({pn})", f"{r['repeated']:.3f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_per_image(path: str, images: List[str], res: Dict[str, str], gts: Dict[str, List[str]]) -> None:
    """grounding.per_image as TSV (for calibrating a confidence threshold against subject_named)."""
    p = grounding.per_image({i: res[i] for i in images}, gts)
    cols = ["subject", "subject_named", "objects", "hallucinated", "refs_person", "person", "repeated", "immediate"]
    with open(path, "w", encoding="utf-8") as f:
        f.write("\t".join(["image"] + cols + ["caption"]) + "\n")
        for i in images:
            v = p[i]
            cells = [",".join(v[c]) if isinstance(v[c], list) else str(int(v[c])) if isinstance(v[c], bool) else v[c]
                     for c in cols]
            f.write("\t".join([i] + cells + [res[i]]) + "\n")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=default_data_dir(), help="Flickr8k folder (default: $FLICKR8K_DIR or ../shared/datasets/flickr8k)")
    ap.add_argument("--captions", help="generated captions, image<TAB>caption per line")
    ap.add_argument("--split", default="test", help="split name under DIR/splits (default test)")
    ap.add_argument("--limit", type=int, default=0, help="score only the first N images of the split")
    ap.add_argument("--human", action="store_true", help="score one reference per image against the other four")
    ap.add_argument("--human-ref", default="0", help="which reference is the candidate with --human: 0..4 or 'all' (default 0)")
    ap.add_argument("--json", action="store_true", help="print the scores as JSON instead of a table")
    ap.add_argument("--json-out", help="also write the scores as JSON to this file")
    ap.add_argument("--per-image", help="write per-image grounding (subject named, hallucinated objects, ...) as TSV")
    ap.add_argument("--table", nargs="+", metavar="JSON", help="print the side-by-side table of these --json-out files")
    args = ap.parse_args(argv)

    if args.table:
        results = []
        for p in args.table:
            with open(p, encoding="utf-8") as f:
                results.append(json.load(f))
        print(side_by_side(results))
        return 0
    if not args.human and not args.captions:
        ap.error("give --captions FILE (or --human, or --table)")
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
            runs.append({**metrics.evaluate(gts, res), **grounding.score(res, gts)})
        scores = {k: sum(s[k] for s in runs) / len(runs) for k in runs[0]}
        title = (f"Human agreement on {dataset_name(args.data)} {args.split}: reference "
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
        scores = {**metrics.evaluate(gts, res), **grounding.score(res, gts)}
        title = f"{args.captions} on {dataset_name(args.data)} {args.split}" + (f" (first {args.limit} images)" if args.limit else "")
        if args.per_image:
            write_per_image(args.per_image, images, res, gts)

    out = {"dataset": dataset_name(args.data), "split": args.split, **scores, "images": len(images)}
    if args.limit:
        out["limit"] = args.limit
    if args.human:
        out["human_ref"] = args.human_ref
    if args.json_out:
        with open(args.json_out, "w", encoding="utf-8") as f:
            json.dump(out, f, indent=1)
            f.write("\n")
    if args.json:
        print(json.dumps(out, indent=1))
    else:
        print(format_table(scores, len(images), title))
    return 0


if __name__ == "__main__":
    sys.exit(main())
