#!/usr/bin/python3
"""Stage 1: convert a tfjs backbone to PyTorch (+ ONNX) and write check data.

    /usr/bin/python3 -m training.convert_backbone [--backbone mobilenet_v2|centernet|...] [--data DIR]

Without --backbone: every model the recipe's backbone is made of. nsfwjs's Keras layers
models go through backbone/keras_torch.py; human-models' CenterNet graph model through
backbone/tf_graph_torch.py (checked at its native 512x512 by backbone/check_tfjs_graph.js).

Reads training/work/tfjs/<backbone>/ (written by backbone/unpack_tfjs.js), writes
training/work/backbone/<backbone>/: backbone.pt (NCHW module weights),
backbone.onnx (pixel_values -> feature map + class probabilities), and check/
with a few real preprocessed images and the PyTorch outputs, which
backbone/check_tfjs.js compares against tfjs (and ONNX Runtime) in Node.
"""

import argparse
import io
import os

import numpy as np
import onnx
import torch
from PIL import Image

from training import recipe
from training.backbone import centernet
from training.backbone.keras_torch import final_layer, input_hw
from training.backbones import BACKBONES, base_model, load_backbone, parts
from training.data import WORK, data_dir, read_split, save_json
from training.images import preprocess

CHECK_IMAGES = 4


def convert_centernet(data, out):
    """Check data at the graph's own input (512x512 RGB 0..255) and its outputs."""
    outs = [centernet.BACKBONE_OUT, centernet.CLASS_LOGITS, centernet.KEYPOINTS]
    g = centernet.load_graph(WORK, outs)
    size = g.placeholder_hw[0]
    names = read_split(data, "test")[:CHECK_IMAGES]
    x = np.stack([np.asarray(Image.open(os.path.join(data, "images", n)).convert("RGB")
                             .resize((size, size), Image.BILINEAR), dtype=np.float32) for n in names])
    with torch.no_grad():
        ys = g(torch.from_numpy(x.transpose(0, 3, 1, 2).copy()))
    x.astype("<f4").tofile(os.path.join(out, "check", "input_nhwc.f32"))
    for i, y in enumerate(ys):
        y.numpy().transpose(0, 2, 3, 1).astype("<f4").tofile(os.path.join(out, "check", f"torch_out{i}_nhwc.f32"))
    save_json(os.path.join(out, "check", "meta.json"), {
        "backbone": "centernet", "images": names, "input_shape": list(x.shape), "outputs": outs,
        "output_shapes": [[len(names)] + list(y.shape[2:]) + [y.shape[1]] for y in ys]})
    buf = io.BytesIO()
    torch.onnx.export(g, (torch.from_numpy(x[:1].transpose(0, 3, 1, 2).copy()),), buf, input_names=["images"],
                      output_names=[f"out{i}" for i in range(len(outs))], opset_version=14,
                      dynamic_axes={"images": {0: "batch"}, **{f"out{i}": {0: "batch"} for i in range(len(outs))}})
    m = onnx.load_from_string(buf.getvalue())
    onnx.checker.check_model(m)
    onnx.save(m, os.path.join(out, "backbone.onnx"))
    for n, kp in zip(names, ys[2].numpy()):
        print(f"  {n}: strongest COCO class-heatmap peaks (class index, score) "
              f"{sorted(enumerate(kp.reshape(kp.shape[0], -1).max(1).round(3).tolist()), key=lambda t: -t[1])[:3]}")
    print(f"wrote {out}/backbone.onnx and check/ ({len(names)} test images at {size}x{size})")


def convert_keras(name, data, out):
    spec = BACKBONES[name]
    g, mj = load_backbone(name, with_logits=True)
    size = spec["size"]
    assert input_hw(mj) == (size, size), input_hw(mj)
    names = read_split(data, "test")[:CHECK_IMAGES]
    x = np.stack([preprocess(os.path.join(data, "images", n), size) for n in names])
    with torch.no_grad():
        feat, probs = g(torch.from_numpy(x))
    print(f"{name}: feature {spec['feature']} {tuple(feat.shape)}, probs {tuple(probs.shape)}")
    # Check files are NHWC like tfjs.
    x.transpose(0, 2, 3, 1).astype("<f4").tofile(os.path.join(out, "check", "input_nhwc.f32"))
    feat.numpy().transpose(0, 2, 3, 1).astype("<f4").tofile(os.path.join(out, "check", "torch_feature_nhwc.f32"))
    probs.numpy().astype("<f4").tofile(os.path.join(out, "check", "torch_probs.f32"))
    save_json(os.path.join(out, "check", "meta.json"), {
        "backbone": name, "images": names, "input_shape": [len(names), size, size, 3],
        "feature_layer": spec["feature"], "feature_shape": [len(names)] + list(feat.shape[2:]) + [feat.shape[1]],
        "final_layer": final_layer(mj), "probs_shape": list(probs.shape)})
    for n, p in zip(names, probs.numpy()):
        print(f"  {n}: nsfwjs class probs {np.round(p, 4).tolist()}")

    torch.save(g.state_dict(), os.path.join(out, "backbone.pt"))
    buf = io.BytesIO()
    torch.onnx.export(g, (torch.from_numpy(x[:1]),), buf, input_names=["pixel_values"],
                      output_names=["feature_map", "probs"], opset_version=14,
                      dynamic_axes={"pixel_values": {0: "batch"}, "feature_map": {0: "batch"}, "probs": {0: "batch"}})
    m = onnx.load_from_string(buf.getvalue())
    onnx.checker.check_model(m)
    onnx.save(m, os.path.join(out, "backbone.onnx"))
    print(f"wrote {out}/backbone.pt, backbone.onnx and check/ ({len(names)} test images)")


def parser():
    r = recipe.settings("convert_backbone")
    ap = argparse.ArgumentParser(description="Stage 1: convert tfjs backbones to PyTorch and ONNX.")
    ap.add_argument("--backbone", choices=[b for b in sorted(BACKBONES) if "parts" not in BACKBONES[b]],
                    help=f"one model (default: each model of {r['backbone']})")
    ap.add_argument("--data")
    ap.add_argument("--threads", type=int, default=r["threads"])
    return ap


def main(argv=None):
    args = parser().parse_args(argv)
    data = data_dir(args.data)
    torch.set_num_threads(args.threads)
    models = [args.backbone] if args.backbone else \
        list(dict.fromkeys(base_model(p) for p in parts(recipe.settings("convert_backbone")["backbone"])))
    for name in models:
        out = os.path.join(WORK, "backbone", name)
        os.makedirs(os.path.join(out, "check"), exist_ok=True)
        if name == "centernet":
            convert_centernet(data, out)
        else:
            convert_keras(name, data, out)


if __name__ == "__main__":
    main()
