#!/usr/bin/python3
"""torchvision's ImageNet weights for jcas's native backbone: rewrites a torchvision state_dict
(resnet101 or mobilenet_v2, e.g. mobilenet_v2-b0353104.pth from download.pytorch.org) as a plain
dict of float32 tensors, which LibTorch reads (torchvision's files pickle an OrderedDict, which
it cannot). Then:

    python3 tools/python/torchvision_backbone.py mobilenet_v2-b0353104.pth mobilenet_v2_imagenet.pt
    jcas run --model.preset mobilenet_v2 --model.input_norm imagenet \\
        --source.backbone_weights mobilenet_v2_imagenet.pt ...

Also takes a whole pickled torchvision model, or a checkpoint holding the state_dict under
"state_dict" or "model"; a "module." prefix (DataParallel) is dropped.
"""
import argparse
import sys

import torch

# A tensor every state_dict of that architecture has.
ARCHITECTURES = {"mobilenet_v2": "features.17.conv.2.weight", "resnet101": "layer3.22.conv3.weight"}


def state_dict_of(loaded):
    if isinstance(loaded, torch.nn.Module):
        return loaded.state_dict()
    if isinstance(loaded, dict):
        for key in ("state_dict", "model"):
            if key in loaded and isinstance(loaded[key], dict):
                return loaded[key]
        return loaded
    raise ValueError(f"holds a {type(loaded).__name__}, not a state_dict")


def convert(src: str, dst: str) -> str:
    state = state_dict_of(torch.load(src, map_location="cpu"))
    state = {(k[len("module."):] if k.startswith("module.") else k): v for k, v in state.items()}
    arch = next((a for a, key in ARCHITECTURES.items() if key in state), None)
    if arch is None:
        raise ValueError("is not a torchvision resnet101 or mobilenet_v2 state_dict (no "
                         + " or ".join(ARCHITECTURES.values()) + ")")
    plain = {}
    for name, value in state.items():
        if not torch.is_tensor(value):
            raise ValueError(f"'{name}' is a {type(value).__name__}, not a tensor")
        plain[name] = value.detach().to(torch.float32 if value.is_floating_point() else value.dtype).contiguous()
    torch.save(plain, dst)
    return arch


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("src", help="torchvision state_dict (.pth)")
    parser.add_argument("dst", help="file to write, for --source.backbone_weights")
    args = parser.parse_args()
    try:
        arch = convert(args.src, args.dst)
    except (ValueError, RuntimeError, OSError) as e:
        sys.exit(f"torchvision_backbone: {args.src}: {e}")
    print(f"wrote {args.dst}: torchvision {arch} weights for --model.preset {arch}")


if __name__ == "__main__":
    main()
