#!/usr/bin/python3
"""jcas's native segmentation network in PyTorch, for checkpoints written by `jcas export`.

    import jcas_native
    model, info = jcas_native.load("model.pt")     # eval mode; info: input convention, read-out
    feat1, feat2, pred1, pred2 = model(x)            # x: B x 3 x H x W, BGR, (v - 128) / 128

`pred2` are the main head's logits at 1/8 of the input size; jcas reads a model out with
softmax(bilinear upsampling of pred2) (or DAR for models adapted with it, see info["readout"]).
A read-out ending in "+image_statistics" (Tent) normalises each image by its own BatchNorm
statistics: run one image at a time with the BatchNorm modules in training mode (and their running
statistics put back), as jcas does.
The layout mirrors pipeline/model/deeplab.cpp, residual_blocks.cpp, inverted_residual_blocks.cpp and
aspp_head.cpp (parameter names included, so the state_dict loads strictly). As a command it writes TorchScript:

    python3 tools/python/jcas_native.py model.pt --script model.ts.pt

whose forward returns the reference tuple (feat1, feat2, pred1, pred2), so jcas can import it again
with --source.torchscript and --source.input_channels bgr --source.input_scale 1
--source.input_mean 128,128,128 --source.input_std 128,128,128.
"""
import argparse
from typing import List, Tuple

import torch
from torch import nn

FORMAT = "jcas-native-1"


def conv(cin: int, cout: int, k: int, stride: int = 1, dilation: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, stride=stride, padding=dilation * (k // 2), dilation=dilation, bias=False)


def shortcut(cin: int, cout: int, stride: int):
    if cin == cout and stride == 1:
        return None
    return nn.Sequential(conv(cin, cout, 1, stride), nn.BatchNorm2d(cout))


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin: int, ch: int, stride: int, dilation: int):
        super().__init__()
        self.conv1, self.bn1 = conv(cin, ch, 3, stride, dilation), nn.BatchNorm2d(ch)
        self.conv2, self.bn2 = conv(ch, ch, 3, 1, dilation), nn.BatchNorm2d(ch)
        self.downsample = shortcut(cin, ch, stride)

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return torch.relu(y + (self.downsample(x) if self.downsample is not None else x))


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin: int, ch: int, stride: int, dilation: int):
        super().__init__()
        out = ch * 4
        self.conv1, self.bn1 = conv(cin, ch, 1), nn.BatchNorm2d(ch)
        self.conv2, self.bn2 = conv(ch, ch, 3, stride, dilation), nn.BatchNorm2d(ch)
        self.conv3, self.bn3 = conv(ch, out, 1), nn.BatchNorm2d(out)
        self.downsample = shortcut(cin, out, stride)

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        y = torch.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return torch.relu(y + (self.downsample(x) if self.downsample is not None else x))


def make_stage(bottleneck: bool, cin: int, ch: int, blocks: int, stride: int, dilation: int):
    block = Bottleneck if bottleneck else BasicBlock
    layers = []
    for b in range(blocks):
        layers.append(block(cin, ch, stride if b == 0 else 1, dilation))
        cin = ch * block.expansion
    return nn.Sequential(*layers), cin


class ConvBnRelu6(nn.Sequential):
    def __init__(self, cin: int, cout: int, k: int, stride: int, dilation: int, groups: int):
        super().__init__(nn.Conv2d(cin, cout, k, stride=stride, padding=dilation * (k // 2), dilation=dilation,
                                   groups=groups, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU6())


class InvertedResidual(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, dilation: int, t: int):
        super().__init__()
        hidden = cin * t
        layers: List[nn.Module] = [ConvBnRelu6(cin, hidden, 1, 1, 1, 1)] if t != 1 else []
        layers += [ConvBnRelu6(hidden, hidden, 3, stride, dilation, hidden), nn.Conv2d(hidden, cout, 1, bias=False),
                   nn.BatchNorm2d(cout)]
        self.conv = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        return x + self.conv(x) if self.residual else self.conv(x)


# torchvision's features[i] that start DeepLab's stem and stages 1-4 (and one past the last).
MOBILENET_V2_PART_STARTS = [0, 2, 4, 7, 14, 18]


def mobilenet_v2_parts():
    """torchvision's mobilenet_v2().features[0..17], dilated past output stride 8, as 5 parts."""
    features: List[nn.Module] = [ConvBnRelu6(3, 32, 3, 2, 1, 1)]
    channels = [32]
    cin, output_stride, dilation = 32, 2, 1
    for t, c, n, s in [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
                       (6, 320, 1, 1)]:
        for i in range(n):
            stride = s if i == 0 else 1
            if stride == 2 and output_stride == 8:
                dilation, stride = dilation * 2, 1
            elif stride == 2:
                output_stride *= 2
            features.append(InvertedResidual(cin, c, stride, dilation, t))
            channels.append(c)
            cin = c
    starts = MOBILENET_V2_PART_STARTS
    parts = [nn.Sequential(*features[starts[p]:starts[p + 1]]) for p in range(5)]
    return parts, (channels[starts[4] - 1], channels[-1])


class AsppHead(nn.Module):
    def __init__(self, cin: int, branch: int, embed: int, classes: int, dilations: List[int]):
        super().__init__()
        self.branches = nn.ModuleList(
            [nn.Conv2d(cin, branch, 3, padding=d, dilation=d, bias=False) for d in dilations])
        self.bn = nn.BatchNorm2d(branch)
        self.project = None
        if branch != embed:
            self.project = nn.Sequential(nn.Conv2d(branch, embed, 1, bias=False), nn.BatchNorm2d(embed), nn.ReLU())
        self.classifier = nn.Conv2d(embed, classes, 1)

    def forward(self, x) -> Tuple[torch.Tensor, torch.Tensor]:
        total = torch.zeros(0)
        first = True
        for b in self.branches:
            y = b(x)
            total = y if first else total + y
            first = False
        feat = torch.relu(self.bn(total))
        if self.project is not None:
            feat = self.project(feat)
        return feat, self.classifier(feat)


class Backbone(nn.Module):
    def __init__(self, o: dict):
        super().__init__()
        if o["preset"] == "mobilenet_v2":
            (self.stem, self.stage1, self.stage2, self.stage3, self.stage4), self.channels = mobilenet_v2_parts()
            return
        big = o["preset"] == "resnet101"
        width = 64 if big else o["width"]
        blocks = [3, 4, 23, 3] if big else list(o["blocks"])
        mult = [1, 2, 4, 8] if big else list(o["width_multipliers"])
        k = 7 if big else 3
        self.stem = nn.Sequential(nn.Conv2d(3, width, k, stride=2, padding=k // 2, bias=False),
                                  nn.BatchNorm2d(width), nn.ReLU(), nn.MaxPool2d(3, stride=2, padding=1))
        self.stage1, c1 = make_stage(big, width, width * mult[0], blocks[0], 1, 1)
        self.stage2, c2 = make_stage(big, c1, width * mult[1], blocks[1], 2, 1)
        self.stage3, c3 = make_stage(big, c2, width * mult[2], blocks[2], 1, 2)
        self.stage4, c4 = make_stage(big, c3, width * mult[3], blocks[3], 1, 4)
        self.channels = (c3, c4)


class JcasDeepLab(nn.Module):
    """The native network; forward returns (feat1, feat2, pred1, pred2) like the reference's."""

    def __init__(self, options: dict):
        super().__init__()
        o = options
        big = o["preset"] == "resnet101"
        self.backbone = Backbone(o)
        c3, c4 = self.backbone.channels
        dil = list(o["dilations"])
        # What the network does with BGR (v - 128) / 128 images first: nothing, or ImageNet's normalisation.
        imagenet = o.get("input_norm", "reference") == "imagenet"
        mean, std = torch.tensor([0.485, 0.456, 0.406]), torch.tensor([0.229, 0.224, 0.225])
        self.imagenet = imagenet
        self.register_buffer("input_scale", (128 / 255 / std).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("input_shift", ((128 / 255 - mean) / std).view(1, 3, 1, 1), persistent=False)
        self.aux_head = AsppHead(c3, o["feat1_dim"] if big else o["head_width"], o["feat1_dim"], o["num_classes"], dil)
        self.main_head = AsppHead(c4, o["feat2_dim"] if big else o["head_width"], o["feat2_dim"], o["num_classes"], dil)

    def forward(self, x) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        b = self.backbone
        if self.imagenet:
            x = torch.addcmul(self.input_shift, x.flip(1), self.input_scale)
        mid = b.stage3(b.stage2(b.stage1(b.stem(x))))
        end = b.stage4(mid)
        feat1, pred1 = self.aux_head(mid)
        feat2, pred2 = self.main_head(end)
        return feat1, feat2, pred1, pred2


def load(path: str):
    """The network of a `jcas export` checkpoint, in eval mode, and the checkpoint's description."""
    ckpt = torch.load(path, map_location="cpu")
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise ValueError(f"{path}: not a jcas native checkpoint ({FORMAT})")
    model = JcasDeepLab(ckpt["options"])
    model.load_state_dict(ckpt["state_dict"], strict=True)
    model.eval()
    return model, {k: ckpt[k] for k in ("input", "readout", "options")}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("checkpoint", help="file written by `jcas export` for the native network")
    parser.add_argument("--script", required=True, help="TorchScript file to write")
    args = parser.parse_args()
    model, _ = load(args.checkpoint)
    torch.jit.save(torch.jit.script(model), args.script)
    print(f"wrote {args.script}")


if __name__ == "__main__":
    main()
