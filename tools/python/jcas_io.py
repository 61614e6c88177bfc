"""Reading jcas's data and outputs from Python the way jcas reads them (shared by the tools and the
interoperability tests): dataset folders (img/, label/, <split>.txt, info.json), the input
conventions, and what `jcas predict --probabilities` writes."""
import json
import os

import numpy as np
import torch
from PIL import Image

IMAGENET = dict(channels="rgb", scale=1 / 255, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
JCAS_NATIVE = dict(channels="bgr", scale=1.0, mean=(128.0, 128.0, 128.0), std=(128.0, 128.0, 128.0))


def split_names(root, split):
    with open(os.path.join(root, f"{split}.txt")) as f:
        return [line.strip() for line in f if line.strip() and not line.strip().startswith("#")]


def num_classes(root):
    with open(os.path.join(root, "info.json")) as f:
        return int(json.load(f)["classes"])


def read_rgb(path):
    return np.asarray(Image.open(path).convert("RGB"))


def read_label(path):
    return np.asarray(Image.open(path))


def read_resized(path, size=None, label=False):
    """An image (RGB) or a label (class ids) as a uint8 array, resized to `size` = (height, width) when
    given: bilinear for images, nearest for labels."""
    im = Image.open(path)
    im = im if label else im.convert("RGB")
    if size is not None and im.size != (size[1], size[0]):
        im = im.resize((size[1], size[0]), Image.NEAREST if label else Image.BILINEAR)
    return np.asarray(im)


def normalise(batch, convention):
    """B x 3 x H x W uint8 RGB tensor -> float in `convention`, as to_input does for one image."""
    x = batch.float()
    if convention["channels"] == "bgr":
        x = x.flip(1)
    mean = torch.tensor(convention["mean"], dtype=torch.float32).view(1, 3, 1, 1)
    std = torch.tensor(convention["std"], dtype=torch.float32).view(1, 3, 1, 1)
    return (x * convention["scale"] - mean) / std


def to_input(rgb, convention):
    """H x W x 3 uint8 RGB -> 1 x 3 x H x W float in `convention` ((v * scale - mean) / std)."""
    x = torch.from_numpy(rgb.astype(np.float32)).permute(2, 0, 1)
    if convention["channels"] == "bgr":
        x = x.flip(0)
    mean = torch.tensor(convention["mean"], dtype=torch.float32).view(3, 1, 1)
    std = torch.tensor(convention["std"], dtype=torch.float32).view(3, 1, 1)
    return ((x * convention["scale"] - mean) / std).unsqueeze(0)


def logits_of(output):
    """The main logits of a model's output: a tensor, a dict's "out", or the reference tuple's pred2."""
    if isinstance(output, dict):
        return output["out"]
    if isinstance(output, (tuple, list)):
        return output[3]
    return output


def softmax_readout(logits, height, width):
    """jcas's softmax read-out: bilinear (align_corners) upsampling to the input size, then softmax."""
    if logits.shape[-2:] != (height, width):
        logits = torch.nn.functional.interpolate(logits, size=(height, width), mode="bilinear", align_corners=True)
    return torch.softmax(logits, 1)
