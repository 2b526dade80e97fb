"""Run a Keras functional model (tfjs layers-model JSON + weights) as a PyTorch module.

Only the layer types used by nsfwjs's MobileNetV2 and InceptionV3 are supported:
InputLayer, ZeroPadding2D, Conv2D, DepthwiseConv2D, BatchNormalization, ReLU,
Activation, Add, Concatenate, AveragePooling2D, MaxPooling2D,
GlobalAveragePooling2D, Flatten, Dense, Dropout. The module works in NCHW; Keras
kernels are transposed at load time. Weights come from the tfjs weights
manifest; uint8/uint16-quantized tensors are dequantized exactly as tfjs does
(`q * scale + min`, computed in float64, stored as float32).
"""

import json
import math
import os
import re

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

DTYPES = {"float32": np.float32, "int32": np.int32, "uint8": np.uint8, "uint16": np.uint16, "float16": np.float16}


def load_tfjs_weights(model_dir):
    """Returns (model.json dict, {weight name: ndarray}) for a tfjs layers model folder."""
    with open(os.path.join(model_dir, "model.json"), encoding="utf-8") as f:
        mj = json.load(f)
    return mj, read_weights(mj, model_dir)


def read_weights(model_json, model_dir):
    """{name: ndarray} from a tfjs weights manifest. uint8/uint16-quantized tensors are
    dequantized exactly as tfjs does (`q * scale + min` in float64, stored as float32);
    float16 ones are widened to float32; int32 stays int32."""
    weights = {}
    for group in model_json["weightsManifest"]:
        buf = b"".join(open(os.path.join(model_dir, p), "rb").read() for p in group["paths"])
        off = 0
        for spec in group["weights"]:
            n = int(np.prod(spec["shape"])) if spec["shape"] else 1
            q = spec.get("quantization")
            dt = DTYPES[q["dtype"] if q else spec["dtype"]]
            raw = np.frombuffer(buf, dt, count=n, offset=off)
            off += n * np.dtype(dt).itemsize
            if q and q["dtype"] in ("uint8", "uint16"):
                vals = (raw.astype(np.float64) * q["scale"] + q["min"]).astype(np.float32)
            else:
                vals = raw.astype(DTYPES[spec["dtype"]])
            weights[spec["name"]] = vals.reshape(spec["shape"])
        if off != len(buf):
            raise ValueError(f"weights manifest uses {off} of {len(buf)} bytes")
    return weights


def tf_same_pads(size, k, s, d=1):
    """TensorFlow SAME padding for one axis: (before, after)."""
    out = math.ceil(size / s)
    total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
    return total // 2, total - total // 2


def activation(name, x):
    if name in (None, "linear"):
        return x
    if name == "relu":
        return F.relu(x)
    if name == "softmax":
        return torch.softmax(x, dim=-1)
    if name == "sigmoid":
        return torch.sigmoid(x)
    raise NotImplementedError(f"activation {name}")


def _key(name):
    return re.sub(r"[^A-Za-z0-9_]", "_", name)


class KerasGraph(nn.Module):
    """The Keras graph up to the requested outputs (layer names)."""

    def __init__(self, model_json, weights, outputs, input_hw):
        super().__init__()
        cfg = model_json["modelTopology"]["model_config"]["config"]
        self.layers = cfg["layers"]
        self.outputs = list(outputs)
        self.input_hw = tuple(input_hw)
        by_name = {l["name"]: l for l in self.layers}
        # Keep only what the outputs need.
        need, stack = set(), list(self.outputs)
        while stack:
            n = stack.pop()
            if n in need:
                continue
            need.add(n)
            for node in by_name[n]["inbound_nodes"][:1]:
                stack.extend(i[0] for i in node)
        self.layers = [l for l in self.layers if l["name"] in need]
        self.params = nn.ParameterDict()
        for l in self.layers:
            c, name = l["class_name"], l["name"]
            w = lambda p: weights[f"{name}/{p}"]
            P = lambda a: nn.Parameter(torch.from_numpy(np.ascontiguousarray(a)), requires_grad=False)
            if c == "Conv2D":
                self.params[_key(name) + "__w"] = P(w("kernel").transpose(3, 2, 0, 1))
                if l["config"]["use_bias"]:
                    self.params[_key(name) + "__b"] = P(w("bias"))
            elif c == "DepthwiseConv2D":
                k = w("depthwise_kernel")
                kh, kw, cin, mult = k.shape
                self.params[_key(name) + "__w"] = P(k.reshape(kh, kw, cin * mult).transpose(2, 0, 1)[:, None])
                if l["config"]["use_bias"]:
                    self.params[_key(name) + "__b"] = P(w("bias"))
            elif c == "BatchNormalization":
                lc = l["config"]
                mean, var = w("moving_mean"), w("moving_variance")
                gamma = w("gamma") if lc.get("scale", True) else np.ones_like(mean)
                beta = w("beta") if lc.get("center", True) else np.zeros_like(mean)
                for p, a in (("mean", mean), ("var", var), ("gamma", gamma), ("beta", beta)):
                    self.params[_key(name) + "__" + p] = P(a)
            elif c == "Dense":
                self.params[_key(name) + "__w"] = P(w("kernel").T)
                if l["config"]["use_bias"]:
                    self.params[_key(name) + "__b"] = P(w("bias"))

    def _p(self, name, p):
        k = _key(name) + "__" + p
        return self.params[k] if k in self.params else None

    def forward(self, x):
        """x: [batch, 3, H, W] float32, already scaled as Keras expects. Returns a list in self.outputs order."""
        t = {}
        for l in self.layers:
            c, name, lc = l["class_name"], l["name"], l["config"]
            ins = [t[i[0]] for i in l["inbound_nodes"][0]] if l["inbound_nodes"] else []
            h = ins[0] if ins else None
            if c == "InputLayer":
                y = x
            elif c == "ZeroPadding2D":
                (top, bottom), (left, right) = lc["padding"]
                y = F.pad(h, (left, right, top, bottom))
            elif c in ("Conv2D", "DepthwiseConv2D"):
                wt = self._p(name, "w")
                kh, kw = wt.shape[2], wt.shape[3]
                s, d = lc["strides"], lc.get("dilation_rate", [1, 1])
                if lc["padding"] == "same":
                    ph = tf_same_pads(int(h.shape[2]), kh, s[0], d[0])
                    pw = tf_same_pads(int(h.shape[3]), kw, s[1], d[1])
                    if ph[0] == ph[1] and pw[0] == pw[1]:
                        pad = (ph[0], pw[0])
                    else:
                        h, pad = F.pad(h, (pw[0], pw[1], ph[0], ph[1])), (0, 0)
                else:
                    pad = (0, 0)
                groups = h.shape[1] if c == "DepthwiseConv2D" else 1
                y = F.conv2d(h, wt, self._p(name, "b"), stride=tuple(s), padding=pad, dilation=tuple(d), groups=groups)
                y = activation(lc.get("activation"), y)
            elif c == "BatchNormalization":
                if lc["axis"] not in (-1, 3, [3], [-1]):
                    raise NotImplementedError(f"{name}: BatchNormalization axis {lc['axis']}")
                y = F.batch_norm(h, self._p(name, "mean"), self._p(name, "var"), self._p(name, "gamma"),
                                 self._p(name, "beta"), False, 0.0, lc["epsilon"])
            elif c == "ReLU":
                if lc.get("negative_slope", 0) or lc.get("threshold", 0):
                    raise NotImplementedError(f"{name}: leaky/thresholded ReLU")
                y = F.relu(h) if lc.get("max_value") is None else torch.clamp(h, 0.0, float(lc["max_value"]))
            elif c == "Activation":
                y = activation(lc["activation"], h)
            elif c == "Add":
                y = ins[0]
                for o in ins[1:]:
                    y = y + o
            elif c == "Concatenate":
                if lc["axis"] not in (-1, 3):
                    raise NotImplementedError(f"{name}: Concatenate axis {lc['axis']}")
                y = torch.cat(ins, dim=1)
            elif c in ("AveragePooling2D", "MaxPooling2D"):
                k, s = tuple(lc["pool_size"]), tuple(lc["strides"] or lc["pool_size"])
                pad = (0, 0)
                if lc["padding"] == "same":
                    ph = tf_same_pads(int(h.shape[2]), k[0], s[0])
                    pw = tf_same_pads(int(h.shape[3]), k[1], s[1])
                    if ph[0] != ph[1] or pw[0] != pw[1]:
                        raise NotImplementedError(f"{name}: asymmetric SAME pooling")
                    pad = (ph[0], pw[0])
                if c == "AveragePooling2D":
                    # TF's SAME average pooling divides by the number of real pixels.
                    y = F.avg_pool2d(h, k, s, pad, count_include_pad=False)
                else:
                    y = F.max_pool2d(h, k, s, pad)
            elif c == "GlobalAveragePooling2D":
                y = h.mean(dim=(2, 3))
            elif c == "Flatten":
                y = h.permute(0, 2, 3, 1).flatten(1) if h.dim() == 4 else h.flatten(1)
            elif c == "Dense":
                y = activation(lc.get("activation"), F.linear(h, self._p(name, "w"), self._p(name, "b")))
            elif c == "Dropout":
                y = h
            else:
                raise NotImplementedError(f"layer {name}: {c}")
            t[name] = y
        return [t[o] for o in self.outputs]


def final_layer(model_json):
    cfg = model_json["modelTopology"]["model_config"]["config"]
    return cfg["output_layers"][0][0]


def input_hw(model_json):
    cfg = model_json["modelTopology"]["model_config"]["config"]
    shape = cfg["layers"][0]["config"]["batch_input_shape"]
    return shape[1], shape[2]
