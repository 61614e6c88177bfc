"""Segmentation networks for source models trained in PyTorch (tools/python/train_source.py), in the
form jcas imports: forward(x) takes an RGB batch normalised with ImageNet's mean/std (B x 3 x H x W)
and returns {"out": logits B x K x H x W} at the input's resolution (LR-ASPP MobileNetV2 also
"feat", its decoder's embedding, for JCAS's affinity branch); TorchScript-able with
torch.jit.script, any input size (sizes divisible by 32 keep every stride exact). The backbone is
`self.backbone`, the head `self.classifier` (jcas trains `classifier.*` at 10x the backbone's rate).

- `lraspp_mobilenet_v2`: torchvision's MobileNetV2 features with an LR-ASPP head (Searching for
  MobileNetV3, Howard et al. 2019): the stride-32 features (1280 channels) through a 1x1 conv and a
  global-pooling sigmoid gate, upsampled to the stride-8 features (32 channels) and summed with a
  1x1 classifier of those.
- `deeplabv3_mobilenet_v2`: MobileNetV2 features up to the 320-channel stage, the last stride
  replaced by dilation 2 (output stride 16), and a DeepLabV3 head (ASPP rates 6, 12, 18, 256
  channels; Chen et al. 2017).
- `lraspp_mobilenet_v3_large`: torchvision's own (weights=None).

A MobileNetV2 backbone can start from a torchvision `mobilenet_v2()` state_dict: its `features.*`
keys are loaded with strict checking (`classifier.*`, ImageNet's head, is ignored)."""
from typing import Dict, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from torchvision.models.segmentation.deeplabv3 import ASPP

ARCHS = ("lraspp_mobilenet_v2", "deeplabv3_mobilenet_v2", "lraspp_mobilenet_v3_large")
MOBILENET_V2_ARCHS = ("lraspp_mobilenet_v2", "deeplabv3_mobilenet_v2")


def load_mobilenet_v2_features(features: nn.Sequential, path: str) -> None:
    """Loads the `features.*` entries of the torchvision mobilenet_v2 state_dict saved at `path` into
    `features` (a full torchvision.models.mobilenet_v2().features); every key and shape must match."""
    try:
        state = torch.load(path, map_location="cpu")
    except Exception as e:  # not a torch.save file (a TorchScript archive is one too, but not a dict)
        raise ValueError(f"{path}: cannot be read as a torchvision mobilenet_v2 state_dict ({e})") from e
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ValueError(f"{path}: not a state_dict (a {type(state).__name__}); expected torchvision "
                         "mobilenet_v2().state_dict() saved with torch.save")
    given = {k[len("features."):]: v for k, v in state.items() if k.startswith("features.")}
    expected = features.state_dict()
    missing = sorted(set(expected) - set(given))
    unexpected = sorted(set(given) - set(expected))
    shapes = sorted(k for k in set(expected) & set(given)
                    if not isinstance(given[k], torch.Tensor) or given[k].shape != expected[k].shape)
    if missing or unexpected or shapes:
        def few(keys):
            return ", ".join("features." + k for k in keys[:4]) + (f" (+{len(keys) - 4} more)" if len(keys) > 4 else "")
        problems = [f"{len(missing)} missing: {few(missing)}" if missing else "",
                    f"{len(unexpected)} unexpected: {few(unexpected)}" if unexpected else "",
                    f"{len(shapes)} with another shape: {few(shapes)}" if shapes else ""]
        raise ValueError(f"{path}: its features.* keys are not torchvision mobilenet_v2's ("
                         + "; ".join(p for p in problems if p) + f"; the file has {len(state)} keys)")
    features.load_state_dict(given, strict=True)


def mobilenet_v2_features(weights: Optional[str] = None) -> nn.Sequential:
    """torchvision's MobileNetV2 feature extractor (19 stages, stride 32, 1280 channels)."""
    features = torchvision.models.mobilenet_v2().features
    if weights:
        load_mobilenet_v2_features(features, weights)
    return features


def dilate_mobilenet_v2(features: nn.Sequential, first: int = 14) -> None:
    """Output stride 32 -> 16: stage `first` (the last stride-2 block) keeps stride 1 and its and the
    following blocks' depthwise 3x3 convolutions get dilation 2 (weights unchanged)."""
    for block in list(features)[first:]:
        if not hasattr(block, "conv"):  # the final 1x1 ConvNormActivation
            continue
        for m in block.conv.modules():
            if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3):
                m.stride, m.dilation, m.padding = (1, 1), (2, 2), (2, 2)


class MobileNetV2Split(nn.Module):
    """MobileNetV2 features as two stages: `low` (stride 8, 32 channels) and `high` (stride 32,
    1280 channels)."""

    def __init__(self, features: nn.Sequential, split: int = 7):
        super().__init__()
        self.low = features[:split]
        self.high = features[split:]

    def forward(self, x):
        low = self.low(x)
        return low, self.high(low)


class LRASPPHead(nn.Module):
    def __init__(self, low_channels: int, high_channels: int, num_classes: int, inter_channels: int = 128):
        super().__init__()
        self.cbr = nn.Sequential(nn.Conv2d(high_channels, inter_channels, 1, bias=False),
                                 nn.BatchNorm2d(inter_channels), nn.ReLU(inplace=True))
        self.scale = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(high_channels, inter_channels, 1, bias=False),
                                   nn.Sigmoid())
        self.low_classifier = nn.Conv2d(low_channels, num_classes, 1)
        self.high_classifier = nn.Conv2d(inter_channels, num_classes, 1)

    def forward(self, low, high) -> Tuple[torch.Tensor, torch.Tensor]:
        """The logits and the gated high-level features at the low features' stride (the embedding)."""
        x = self.cbr(high) * self.scale(high)
        x = F.interpolate(x, size=low.shape[-2:], mode="bilinear", align_corners=False)
        return self.low_classifier(low) + self.high_classifier(x), x


class LRASPPMobileNetV2(nn.Module):
    def __init__(self, num_classes: int, backbone_weights: Optional[str] = None):
        super().__init__()
        self.backbone = MobileNetV2Split(mobilenet_v2_features(backbone_weights))
        self.classifier = LRASPPHead(32, 1280, num_classes)

    def forward(self, x) -> Dict[str, torch.Tensor]:
        low, high = self.backbone(x)
        logits, feat = self.classifier(low, high)
        # "feat": the embedding jcas's affinity branch compares pixels by (stride 8, 128 channels).
        return {"out": F.interpolate(logits, size=x.shape[-2:], mode="bilinear", align_corners=False), "feat": feat}


class DeepLabV3MobileNetV2(nn.Module):
    def __init__(self, num_classes: int, backbone_weights: Optional[str] = None):
        super().__init__()
        features = mobilenet_v2_features(backbone_weights)[:18]  # up to the 320-channel stage
        dilate_mobilenet_v2(features)
        self.backbone = features
        self.classifier = nn.Sequential(ASPP(320, [6, 12, 18], 256),
                                        nn.Conv2d(256, 256, 3, padding=1, bias=False), nn.BatchNorm2d(256),
                                        nn.ReLU(inplace=True), nn.Conv2d(256, num_classes, 1))

    def forward(self, x) -> Dict[str, torch.Tensor]:
        logits = self.classifier(self.backbone(x))
        return {"out": F.interpolate(logits, size=x.shape[-2:], mode="bilinear", align_corners=False)}


def build(arch: str, num_classes: int, backbone_weights: Optional[str] = None) -> nn.Module:
    """The network `arch` (one of ARCHS) for `num_classes` classes; `backbone_weights`: a torchvision
    mobilenet_v2 state_dict file (MobileNetV2 archs only)."""
    if arch == "lraspp_mobilenet_v2":
        return LRASPPMobileNetV2(num_classes, backbone_weights)
    if arch == "deeplabv3_mobilenet_v2":
        return DeepLabV3MobileNetV2(num_classes, backbone_weights)
    if arch == "lraspp_mobilenet_v3_large":
        if backbone_weights:
            raise ValueError(f"{backbone_weights}: backbone weights are MobileNetV2's; {arch} takes none")
        return torchvision.models.segmentation.lraspp_mobilenet_v3_large(weights=None, weights_backbone=None,
                                                                         num_classes=num_classes)
    raise ValueError(f"unknown arch {arch!r} (one of {', '.join(ARCHS)})")


def backbone_batchnorms(model: nn.Module):
    """The backbone's BatchNorm layers (those that --freeze-bn keeps in evaluation mode)."""
    return [m for m in model.backbone.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
