#!/usr/bin/python3
"""Stage 1: convert a tfjs backbone to PyTorch (+ ONNX) and write check data.

    /usr/bin/python3 training/convert_backbone.py --backbone mobilenet_v2 [--data DIR]
    /usr/bin/python3 training/convert_backbone.py --backbone centernet [--data DIR]

nsfwjs's Keras layers models go through backbone/keras_torch.py; human-models'
CenterNet graph model through backbone/tf_graph_torch.py (checked at its native 512x512
by backbone/check_tfjs_graph.js).

Reads training/work/tfjs/<backbone>/ (written by backbone/unpack_tfjs.js), writes
training/work/backbone/<backbone>/: backbone.pt (NCHW module weights),
backbone.onnx (pixel_values -> feature map + class probabilities), and check/
with a few real preprocessed images and the PyTorch outputs, which
backbone/check_tfjs.js compares against tfjs (and ONNX Runtime) in Node.
"""

import argparse
import io
import os
import sys

import numpy as np
import onnx
import torch
import torch.nn as nn
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import BACKBONES, WORK, data_dir, preprocess, read_split, save_json  # noqa: E402
from backbone import centernet  # noqa: E402
from backbone.keras_torch import KerasGraph, final_layer, input_hw, load_tfjs_weights  # noqa: E402

CHECK_IMAGES = 4


class Concat(nn.Module):
    """Runs each backbone model once on the same pixel_values and concatenates the parts'
    maps on channels, in the parts' order. order[i] = (model, output) of part i: parts that
    are layers of one model (mobilenet_v2 and mobilenet_v2_mid) share its single pass."""

    def __init__(self, models, order):
        super().__init__()
        self.models = nn.ModuleList(models)
        self.order = order

    def forward(self, pixel_values):
        outs = [m(pixel_values) for m in self.models]
        return [torch.cat([outs[i][j] for i, j in self.order], dim=1)]


class Layers(nn.Module):
    """A Keras graph's feature maps, each average-pooled by its part's "pool" (an earlier,
    finer map onto the common grid)."""

    def __init__(self, graph, pools):
        super().__init__()
        self.graph, self.pools = graph, pools

    def forward(self, pixel_values):
        return [nn.functional.avg_pool2d(o, k) if k else o for o, k in zip(self.graph(pixel_values), self.pools)]


def keras_layers(model, names):
    """One pass of the nsfwjs Keras model `model` giving the feature maps of parts `names`."""
    mj, weights = load_tfjs_weights(os.path.join(WORK, "tfjs", model))
    g = KerasGraph(mj, weights, [BACKBONES[n]["feature"] for n in names], input_hw(mj)).eval()
    return Layers(g, [BACKBONES[n].get("pool") for n in names]).eval()


def load_backbone(name, with_logits=False):
    """pixel_values -> [feature map] (+ class probabilities for nsfwjs with_logits)."""
    spec = BACKBONES[name]
    if "parts" in spec:
        groups = {}  # model -> its parts, in order
        for p in spec["parts"]:
            groups.setdefault(BACKBONES[p].get("model", p), []).append(p)
        models, where = [], {}
        for model, names in groups.items():
            models.append(load_backbone(model)[0] if model == "centernet" else keras_layers(model, names))
            where.update({n: (len(models) - 1, j) for j, n in enumerate(names)})
        return Concat(models, [where[p] for p in spec["parts"]]).eval(), None
    if name == "centernet":
        return centernet.CenterNetFeatures(centernet.load_graph(WORK)).eval(), None
    if with_logits:
        if "model" in spec:
            raise ValueError(f"{name} is a layer of {spec['model']}: check that model instead")
        mj, weights = load_tfjs_weights(os.path.join(WORK, "tfjs", name))
        return KerasGraph(mj, weights, [spec["feature"], final_layer(mj)], input_hw(mj)).eval(), mj
    return keras_layers(spec.get("model", name), [name]), None


def load_finetuned(name, ck):
    """The backbone of run checkpoint ck: the converted weights, with the layers that
    finetune.py trained replaced by the run's (ck["backbone_state"]) when it has them."""
    g, _ = load_backbone(name)
    state = ck.get("backbone_state")
    if state:
        res = g.load_state_dict({k: v.float() for k, v in state.items()}, strict=False)
        if res.unexpected_keys:
            raise SystemExit(f"backbone_state names layers that {name} does not have: {res.unexpected_keys[:3]}")
    return g.eval()


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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--backbone", default="mobilenet_v2", choices=[b for b in sorted(BACKBONES) if "parts" not in BACKBONES[b]])
    ap.add_argument("--data")
    args = ap.parse_args()
    data = data_dir(args.data)
    spec = BACKBONES[args.backbone]
    out = os.path.join(WORK, "backbone", args.backbone)
    os.makedirs(os.path.join(out, "check"), exist_ok=True)
    torch.set_num_threads(2)
    if args.backbone == "centernet":
        return convert_centernet(data, out)

    g, mj = load_backbone(args.backbone, with_logits=True)
    size = spec["size"]
    assert input_hw(mj) == (size, size), input_hw(mj)
    names = read_split(data, "test")[:CHECK_IMAGES]
    x = np.stack([preprocess(os.path.join(data, "images", n), size) for n in names])
    with torch.no_grad():
        feat, probs = g(torch.from_numpy(x))
    print(f"{args.backbone}: feature {spec['feature']} {tuple(feat.shape)}, probs {tuple(probs.shape)}")
    # Check files are NHWC like tfjs.
    x.transpose(0, 2, 3, 1).astype("<f4").tofile(os.path.join(out, "check", "input_nhwc.f32"))
    feat.numpy().transpose(0, 2, 3, 1).astype("<f4").tofile(os.path.join(out, "check", "torch_feature_nhwc.f32"))
    probs.numpy().astype("<f4").tofile(os.path.join(out, "check", "torch_probs.f32"))
    save_json(os.path.join(out, "check", "meta.json"), {
        "backbone": args.backbone, "images": names, "input_shape": [len(names), size, size, 3],
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


if __name__ == "__main__":
    main()
