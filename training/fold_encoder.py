"""Applies training/onnx_export.py's fold_encoder (pads into convolutions, TF1 legacy resizes
as Resize; exact) to an exported model folder's onnx/encoder_model.onnx in place. Exports
made since it exists have it already; this is for folders exported before.

  python3 -m training.fold_encoder models/captionai
"""

import argparse
import os

import onnx

from training.onnx_export import fold_encoder


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", help="model folder (holds onnx/encoder_model.onnx)")
    args = ap.parse_args()
    path = os.path.join(args.model, "onnx", "encoder_model.onnx")
    model, pads, resizes = fold_encoder(onnx.load(path))
    if pads or resizes:
        onnx.save(model, path)
    print(f"{path}: {pads} pads folded into convolutions, {resizes} legacy resizes as Resize")


if __name__ == "__main__":
    main()
