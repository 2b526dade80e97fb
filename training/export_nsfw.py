#!/usr/bin/python3
"""nsfwjs's NSFW classifier (MobileNetV2 with its 5-class head) as ONNX, for the app's upload check.

    /usr/bin/python3 -m training.export_nsfw [--data DIR] [--out models/nsfw-mobilenetv2] [--check 20]
    node training/backbone/check_nsfw.js [tolerance]

Reads training/work/tfjs/mobilenet_v2/ (written by backbone/unpack_tfjs.js), converts it with
backbone/keras_torch.py as convert_backbone does, but up to nsfwjs's softmax, and writes:

- OUT/model.onnx: pixel_values [batch, 3, 224, 224] (RGB in [0, 1]) -> probs [batch, 5];
- OUT/config.json: class order, input, preprocessing, source and licence; OUT/LICENSE: nsfwjs's;
- training/work/nsfw/check/: --check Flickr8k test photos as decoded RGB and as nsfwjs's
  preprocessed pixels, with PyTorch's probabilities, for backbone/check_nsfw.js (nsfwjs itself
  on tfjs's CPU backend, and model.onnx in onnxruntime-node);
- inference/testdata/nsfw_reference.json: PyTorch's probabilities for a few images (and the
  sha256 of the pixels) that inference/nsfw_test.go checks the Go classifier against.
"""

import argparse
import hashlib
import io
import os
import shutil

import numpy as np
import onnx
import torch
from PIL import Image, ImageOps

from training.backbone.keras_torch import KerasGraph, final_layer, input_hw, load_tfjs_weights
from training.data import REPO, WORK, data_dir, read_split, save_json

# nsfwjs's NSFW_CLASSES, in the order of its softmax (and of images.nsfw_scores).
CLASSES = ["drawing", "hentai", "neutral", "porn", "sexy"]
SIZE = 224
SOURCE = "nsfwjs@4.4.0 dist/models/mobilenet_v2 (Keras layers model, uint8-quantized weights)"
# Images in the repository the Go tests classify: PNGs (exact pixels, upscaled), a JPEG (Go's
# decoder differs from libjpeg by IDCT rounding) and nsfw_pattern.png (written here, downscaled).
GO_IMAGES = ["models/tiny-random/images/checker.png", "models/tiny-random/images/gradient.png",
             "models/tiny-random/images/noise.png", "inference/testdata/chroma420.libjpeg.png",
             "inference/testdata/chroma420.jpg", "inference/testdata/nsfw_pattern.png"]
GO_FLICKR = 5  # test photos, named only: the Go test reads them from FLICKR8K_DIR


def decode(path):
    """RGB uint8 [h, w, 3] with the EXIF orientation applied, as the app's worker decodes."""
    return np.asarray(ImageOps.exif_transpose(Image.open(path)).convert("RGB"))


def nsfwjs_pixels(rgb, size=SIZE):
    """nsfwjs's infer(): RGB / 255 in float32, then tf.image.resizeBilinear(x, [size, size],
    alignCorners=true) as tfjs's CPU kernel computes it (float64 arithmetic, float32 result).
    HWC float32; inference/nsfw.go does the same."""
    x = (rgb.astype(np.float64) / 255).astype(np.float32).astype(np.float64)
    h, w = rgb.shape[:2]
    if (h, w) == (size, size):
        return x.astype(np.float32)

    def axis(n):
        ratio = (n - 1) / (size - 1)
        src = ratio * np.arange(size)
        lo = np.floor(src).astype(int)
        return lo, np.minimum(np.ceil(src).astype(int), n - 1), src - lo

    ylo, yhi, fy = axis(h)
    xlo, xhi, fx = axis(w)
    fx, fy = fx[None, :, None], fy[:, None, None]
    top = x[ylo][:, xlo] + (x[ylo][:, xhi] - x[ylo][:, xlo]) * fx
    bottom = x[yhi][:, xlo] + (x[yhi][:, xhi] - x[yhi][:, xlo]) * fx
    return (top + (bottom - top) * fy).astype(np.float32)


class Classifier(torch.nn.Module):
    def __init__(self, graph):
        super().__init__()
        self.graph = graph

    def forward(self, pixel_values):
        return self.graph(pixel_values)[0]


def load_classifier():
    d = os.path.join(WORK, "tfjs", "mobilenet_v2")
    if not os.path.exists(os.path.join(d, "model.json")):
        raise SystemExit(f"no {d}/model.json: run node training/backbone/unpack_tfjs.js "
                         "training/work/node/node_modules/nsfwjs mobilenet_v2 training/work/tfjs/mobilenet_v2")
    mj, weights = load_tfjs_weights(d)
    assert input_hw(mj) == (SIZE, SIZE), input_hw(mj)
    return Classifier(KerasGraph(mj, weights, [final_layer(mj)], input_hw(mj))).eval()


def probs(model, hwc):
    """PyTorch's probabilities for a batch of HWC pixel arrays."""
    x = torch.from_numpy(np.stack(hwc).transpose(0, 3, 1, 2).copy())
    with torch.no_grad():
        return model(x).numpy()


def pattern_png(path):
    """A 301x257 image (downscaled by the resize, odd sizes), compressing well: gradients, bars, a disc."""
    y, x = np.mgrid[0:257, 0:301]
    r = (x * 255 // 300).astype(np.uint8)
    g = np.where((x // 20 + y // 20) % 2 == 0, 40, 220).astype(np.uint8)
    b = np.where((x - 150) ** 2 + (y - 128) ** 2 < 80 ** 2, 255, y * 255 // 256).astype(np.uint8)
    Image.fromarray(np.stack([r, g, b], -1)).save(path, optimize=True)


def parser():
    ap = argparse.ArgumentParser(description="Export nsfwjs's MobileNetV2 NSFW classifier to ONNX with check data.")
    ap.add_argument("--data")
    ap.add_argument("--out", default=os.path.join(REPO, "models", "nsfw-mobilenetv2"))
    ap.add_argument("--check", type=int, default=20, help="Flickr8k test photos for check_nsfw.js")
    ap.add_argument("--threads", type=int, default=2)
    return ap


def main(argv=None):
    args = parser().parse_args(argv)
    data = data_dir(args.data)
    torch.set_num_threads(args.threads)
    model = load_classifier()

    os.makedirs(args.out, exist_ok=True)
    buf = io.BytesIO()
    x0 = torch.zeros(1, 3, SIZE, SIZE)
    torch.onnx.export(model, (x0,), buf, input_names=["pixel_values"], output_names=["probs"], opset_version=14,
                      dynamic_axes={"pixel_values": {0: "batch"}, "probs": {0: "batch"}}, do_constant_folding=True)
    m = onnx.load_from_string(buf.getvalue())
    m.producer_name = "captionai training/export_nsfw.py"
    m.doc_string = f"{SOURCE}: pixel_values RGB in [0, 1] -> probs {CLASSES}"
    onnx.checker.check_model(m)
    onnx_path = os.path.join(args.out, "model.onnx")
    onnx.save(m, onnx_path)
    save_json(os.path.join(args.out, "config.json"), {
        "classes": CLASSES,
        "input": "pixel_values", "output": "probs", "layout": "NCHW", "size": SIZE,
        "preprocessing": "RGB / 255 (float32), then tf.image.resizeBilinear to 224x224 with alignCorners "
                         "(nsfwjs 4.4.0 infer(); the aspect ratio is not kept)",
        "source": SOURCE, "license": "MIT (nsfwjs, Copyright (c) 2019 Infinite Red, Inc.)",
    })
    shutil.copy(os.path.join(WORK, "node", "node_modules", "nsfwjs", "LICENSE"), os.path.join(args.out, "LICENSE"))
    with open(onnx_path, "rb") as f:
        blob = f.read()
    print(f"wrote {onnx_path} ({len(blob) / 1e6:.2f} MB, sha256 {hashlib.sha256(blob).hexdigest()})")

    # Check data for check_nsfw.js: decoded photos and nsfwjs's pixels of them.
    check = os.path.join(WORK, "nsfw", "check")
    os.makedirs(check, exist_ok=True)
    tests = read_split(data, "test")
    names = tests[:args.check]
    rgbs = [decode(os.path.join(data, "images", n)) for n in names]
    xs = [nsfwjs_pixels(r) for r in rgbs]
    p = probs(model, xs)
    with open(os.path.join(check, "rgb.u8"), "wb") as f:
        for r in rgbs:
            f.write(np.ascontiguousarray(r).tobytes())
    np.stack(xs).astype("<f4").tofile(os.path.join(check, "input_nhwc.f32"))
    p.astype("<f4").tofile(os.path.join(check, "torch_probs.f32"))
    save_json(os.path.join(check, "meta.json"), {
        "images": names, "rgb_shapes": [list(r.shape) for r in rgbs], "input_shape": [len(xs), SIZE, SIZE, 3],
        "classes": CLASSES, "onnx": os.path.relpath(onnx_path, REPO)})
    for n, q in zip(names, p):
        print(f"  {n}: " + " ".join(f"{c} {v:.4f}" for c, v in zip(CLASSES, q)))
    print(f"wrote {check} ({len(names)} test photos)")

    # The Go tests' reference.
    pattern_png(os.path.join(REPO, "inference", "testdata", "nsfw_pattern.png"))
    ref = {"about": "written by training/export_nsfw.py: PyTorch's probabilities (the module model.onnx was "
                    "exported from) and the sha256 of the pixel_values (float32 little-endian, NCHW)",
           "classes": CLASSES, "images": [], "flickr8k_test": []}
    for rel in GO_IMAGES:
        x = nsfwjs_pixels(decode(os.path.join(REPO, rel)))
        ref["images"].append({"image": rel, "probs": probs(model, [x])[0].tolist(),
                              "pixels_sha256": hashlib.sha256(x.transpose(2, 0, 1).astype("<f4").tobytes()).hexdigest()})
    for n, q in zip(names[:GO_FLICKR], p):
        ref["flickr8k_test"].append({"image": n, "probs": q.tolist()})
    save_json(os.path.join(REPO, "inference", "testdata", "nsfw_reference.json"), ref)
    print("wrote inference/testdata/nsfw_reference.json and nsfw_pattern.png")


if __name__ == "__main__":
    main()
