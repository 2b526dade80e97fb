"""Image preprocessing: ViTImageProcessor's, which preprocessor_config.json tells the Go app
and transformers.js to reproduce."""

import numpy as np
from PIL import Image

# Keras MobileNetV2 / InceptionV3 want RGB in [-1, 1]: x / 127.5 - 1, which is
# ViTImageProcessor's rescale 1/255 then normalize with mean = std = 0.5.
RESCALE = 1 / 255
MEAN = [0.5, 0.5, 0.5]
STD = [0.5, 0.5, 0.5]


def resized(path, size):
    """RGB uint8 [size, size, 3]: PIL bilinear resize (reducing_gap=None), as ViTImageProcessor."""
    img = Image.open(path).convert("RGB")
    if img.size != (size, size):
        img = img.resize((size, size), resample=Image.BILINEAR, reducing_gap=None)
    return np.asarray(img)


def preprocess(path, size):
    """ViTImageProcessor: resized(), rescale in float64 then float32, normalize, CHW.
    The Go inference package reproduces this."""
    x = (resized(path, size).astype(np.float64) * RESCALE).astype(np.float32)
    x = (x - np.array(MEAN, np.float32)) / np.array(STD, np.float32)
    return x.transpose(2, 0, 1).copy()
