#!/usr/bin/python3
"""Recover a fine-tuned backbone from an exported encoder: a finetune run folder without a GPU.

    /usr/bin/python3 -m training.finetune_from_onnx [--onnx ENCODER.onnx] [--out DIR] [--check N]

The encoder of a FINETUNE=DIR export (e.g. models/captionai-flickr8k/onnx/encoder_model.onnx)
carries the fine-tuned backbone. CenterNet's tensors keep their PyTorch names there
(`backbone.models.1.graph.params.…`, float16 ones as `…_fp16` behind a Cast); MobileNetV2's
Conv2D + BatchNormalization pairs were folded by torch.onnx into anonymous `onnx::Conv_*`
weight/bias pairs, which are matched to the Keras conv layers by graph order and unfolded
with the converted batch norm's statistics and gamma (W = W'/s, beta = b' + mean·s with
s = gamma/sqrt(var + eps): the same function, as batch-norm statistics never trained).
Every name and shape is checked against training.backbones' module; the layers outside
finetune's `top` set must come out equal to the converted ones.

Writes DIR/best.pt (default training/work/runs/finetune_from_onnx) with `backbone` and
`backbone_state` (the `top` layers, as finetune.py saves them) plus the finetune metadata
model_card reads (--meta, default the run behind models/captionai-flickr8k), so that
`FINETUNE=DIR training/run.sh` extracts features from it. It has no decoder of its own.

--check N: on N Flickr8k test photos, the recovered torch backbone's features vs the ONNX
encoder's (its head's input, exposed as an extra output), and the ONNX head run on the
torch features vs the ONNX encoder's last_hidden_state, in onnxruntime-node
(training/backbone/ort_run.js); exits 1 above --tol.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
import torch
from onnx import helper, numpy_helper

from training import recipe
from training.backbones import BACKBONES, load_backbone, trainable
from training.data import REPO, WORK, data_dir, read_split
from training.images import preprocess

DEFAULT_ONNX = os.path.join(REPO, "models", "captionai-flickr8k", "onnx", "encoder_model.onnx")
# What model_card says about the GPU run (models/captionai-flickr8k/README.md, recipe [finetune]).
DEFAULT_META = {"minutes": 4.5, "scst_minutes": 1.5, "batch": 16, "lr": 5e-4, "backbone_lr": 1e-4,
                "unfreeze_at": 0.3, "min_area": 0.75, "unfreeze": "top", "dev_greedy_cider": 0.414}


def parser():
    r = recipe.settings("export")
    ap = argparse.ArgumentParser(description="A finetune run folder from an exported encoder's backbone weights.")
    ap.add_argument("--onnx", default=DEFAULT_ONNX, help="the exported encoder_model.onnx")
    ap.add_argument("--backbone", default=r["backbone"], choices=sorted(BACKBONES))
    ap.add_argument("--out", default=os.path.join(WORK, "runs", "finetune_from_onnx"))
    ap.add_argument("--meta", default=json.dumps(DEFAULT_META), help="JSON: the GPU run's settings, for the model card")
    ap.add_argument("--data")
    ap.add_argument("--check", type=int, default=4, help="test photos to compare in onnxruntime (0: none)")
    ap.add_argument("--tol", type=float, default=1e-3)
    ap.add_argument("--threads", type=int, default=r["threads"])
    return ap


def values(model):
    """(initializer name -> float32 array, with a float16 `X_fp16` + Cast as X; graph value
    name -> initializer name, for the Casts' outputs, which compaction renamed)."""
    g = model.graph
    inits = {}
    for i in g.initializer:
        a = numpy_helper.to_array(i)
        if a.dtype in (np.float16, np.float32):
            inits[i.name[:-len("_fp16")] if a.dtype == np.float16 else i.name] = a.astype(np.float32)
    source = {k: k for k in inits}
    for n in g.node:
        if n.op_type == "Cast" and n.input[0].endswith("_fp16") and n.input[0][:-len("_fp16")] in inits:
            source[n.output[0]] = n.input[0][:-len("_fp16")]
    return inits, source


def recover(g, model):
    """backbone_state (every `top` tensor) from the ONNX encoder; prints the checks."""
    sd = g.state_dict()
    vals, source = values(model)
    state, problems = {}, []
    # 1. Tensors that kept their names (CenterNet's graph params).
    named = {k[len("backbone."):]: v for k, v in vals.items() if k.startswith("backbone.")}
    for k, v in named.items():
        if k not in sd:
            problems.append(f"{k}: not in the torch backbone")
        elif tuple(sd[k].shape) != v.shape:
            problems.append(f"{k}: shape {v.shape} vs torch {tuple(sd[k].shape)}")
    # 2. Folded Keras conv + batch norm pairs, in graph order.
    keras = [m for m in g.models if hasattr(m, "graph") and hasattr(m.graph, "layers")]
    prefix = {id(m): f"models.{i}.graph.params." for i, m in enumerate(g.models)}
    layers = []  # (prefix, conv layer, its batch norm layer)
    for m in keras:
        bn_of = {l["inbound_nodes"][0][0][0]: l for l in m.graph.layers
                 if l["class_name"] == "BatchNormalization" and l["inbound_nodes"]}
        for l in m.graph.layers:
            if l["class_name"] in ("Conv2D", "DepthwiseConv2D"):
                if l["config"]["use_bias"] or l["name"] not in bn_of:
                    raise SystemExit(f"{l['name']}: expected a bias-free conv followed by batch norm")
                layers.append((prefix[id(m)], l, bn_of[l["name"]]))
    folded = [(n.input[1], n.input[2]) for n in model.graph.node
              if n.op_type == "Conv" and source.get(n.input[1], "").startswith("onnx::")]
    if len(folded) != len(layers):
        raise SystemExit(f"{len(folded)} folded convs in the ONNX graph, {len(layers)} conv layers in the torch backbone")
    key = lambda name: name.replace("/", "_")
    unfold = {}
    for (pre, conv, bn), (wn, bname) in zip(layers, folded):
        w, b = vals[wn].astype(np.float64), vals[bname].astype(np.float64)
        c, n = pre + key(conv["name"]), pre + key(bn["name"])
        if tuple(sd[c + "__w"].shape) != w.shape:
            problems.append(f"{c}: shape {w.shape} vs torch {tuple(sd[c + '__w'].shape)}")
            continue
        mean, var, gamma = (sd[n + "__" + p].double().numpy() for p in ("mean", "var", "gamma"))
        s = gamma / np.sqrt(var + bn["config"]["epsilon"])
        unfold[c + "__w"] = w / s[:, None, None, None]
        unfold[n + "__beta"] = b + mean * s
        unfold[n + "__gamma"] = gamma
    if problems:
        raise SystemExit("names/shapes do not match:\n  " + "\n  ".join(problems[:20]))
    recovered = {**named, **unfold}
    for k, v in recovered.items():
        ref = sd[k].double().numpy()
        d = float(np.abs(v - ref).max())
        if trainable(k, "top"):
            state[k] = torch.from_numpy(np.asarray(v, np.float32))
        elif d > 1e-4 * max(1.0, float(np.abs(ref).max())):
            problems.append(f"{k}: outside the top layers but differs from the converted weights by {d:.2e}")
    missing = [k for k in sd if trainable(k, "top") and k not in state]
    if missing:
        problems.append(f"{len(missing)} top tensors not recovered, e.g. {missing[:3]}")
    if problems:
        raise SystemExit("recovery check failed:\n  " + "\n  ".join(problems[:20]))
    changed = sum(1 for k, v in state.items() if not np.array_equal(v.numpy(), sd[k].numpy()))
    print(f"recovered {len(state)} top tensors ({sum(v.numel() for v in state.values()) / 1e6:.2f}M parameters; "
          f"{len(named)} named CenterNet tensors, {len(layers)} folded MobileNetV2 convs), {changed} differ from "
          f"the converted backbone; the {len(recovered) - len(state)} recovered tensors outside the top layers equal "
          f"the converted ones (within 1e-4 relative)")
    return state


def ort(node_args, tmp):
    subprocess.run(["node", os.path.join(REPO, "training", "backbone", "ort_run.js"), *node_args], check=True, cwd=REPO)


def read_out(d, name):
    with open(os.path.join(d, name + ".json")) as f:
        return np.fromfile(os.path.join(d, name + ".f32"), np.float32).reshape(json.load(f))


def check(g, converted, model, args):
    """Max abs differences on real photos; returns the worst of the two recovered ones."""
    feat_mm = [n for n in model.graph.node if n.op_type == "MatMul"][0]  # the head's projection
    feats_name = feat_mm.input[0]
    data = data_dir(args.data)
    imgs = read_split(data, "test")[:args.check]
    px = np.stack([preprocess(os.path.join(data, "images", i), BACKBONES[args.backbone]["size"]) for i in imgs])
    with torch.no_grad():
        ours = g(torch.from_numpy(px))[0].flatten(2).transpose(1, 2).numpy()
        conv = converted(torch.from_numpy(px))[0].flatten(2).transpose(1, 2).numpy()
    with tempfile.TemporaryDirectory() as tmp:
        full = onnx.load(args.onnx)
        full.graph.output.append(helper.make_tensor_value_info(feats_name, onnx.TensorProto.FLOAT, None))
        onnx.save(full, os.path.join(tmp, "full.onnx"))
        head = onnx.utils.Extractor(onnx.shape_inference.infer_shapes(model)).extract_model([feats_name],
                                                                                           ["last_hidden_state"])
        onnx.save(head, os.path.join(tmp, "head.onnx"))
        px.astype(np.float32).tofile(os.path.join(tmp, "px.f32"))
        ours.astype(np.float32).tofile(os.path.join(tmp, "feats.f32"))
        ort([os.path.join(tmp, "full.onnx"), "pixel_values", os.path.join(tmp, "px.f32"),
             ",".join(map(str, px.shape)), os.path.join(tmp, "full")], tmp)
        ort([os.path.join(tmp, "head.onnx"), feats_name, os.path.join(tmp, "feats.f32"),
             ",".join(map(str, ours.shape)), os.path.join(tmp, "head")], tmp)
        safe = "".join(c if c.isalnum() or c in "_.-" else "_" for c in feats_name)
        onnx_feats, onnx_hidden = read_out(os.path.join(tmp, "full"), safe), read_out(os.path.join(tmp, "full"),
                                                                                      "last_hidden_state")
        head_hidden = read_out(os.path.join(tmp, "head"), "last_hidden_state")
    d_feat = float(np.abs(ours - onnx_feats).max())
    d_conv = float(np.abs(conv - onnx_feats).max())
    d_hidden = float(np.abs(head_hidden - onnx_hidden).max())
    print(f"check on {len(imgs)} test photos ({', '.join(imgs)}), onnxruntime-node vs PyTorch:")
    print(f"  backbone features [n, 49, {ours.shape[2]}] (values up to {np.abs(onnx_feats).max():.1f}): recovered "
          f"{d_feat:.2e} (converted, not fine-tuned: {d_conv:.2e})")
    print(f"  last_hidden_state, the old encoder's head on the recovered features vs the old encoder: {d_hidden:.2e}")
    return max(d_feat, d_hidden)


def main(argv=None):
    args = parser().parse_args(argv)
    torch.set_num_threads(args.threads)
    model = onnx.load(args.onnx)
    g, _ = load_backbone(args.backbone)
    state = recover(g, model)
    converted, _ = load_backbone(args.backbone)
    res = g.load_state_dict(state, strict=False)
    assert not res.unexpected_keys
    g.eval()
    if args.check:
        worst = check(g, converted, model, args)
        if worst > args.tol:
            sys.exit(f"check failed: {worst:.2e} > {args.tol}")
    meta = json.loads(args.meta)
    os.makedirs(args.out, exist_ok=True)
    torch.save({"backbone": args.backbone, "backbone_state": state, "recovered_from": os.path.abspath(args.onnx),
                "args": {k: meta[k] for k in ("minutes", "scst_minutes", "batch", "lr", "backbone_lr", "unfreeze_at",
                                              "min_area")},
                "finetune": {"unfreeze": meta["unfreeze"], "trained_tensors": len(state)},
                "dev_greedy": {"CIDEr-D": meta["dev_greedy_cider"]}}, os.path.join(args.out, "best.pt"))
    print(f"wrote {os.path.join(args.out, 'best.pt')}")


if __name__ == "__main__":
    main()
