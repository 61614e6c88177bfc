#!/usr/bin/python3
"""Trains torchvision's LR-ASPP MobileNetV3-Large on a jcas dataset's labelled split and saves it as
TorchScript: the "model trained in PyTorch" that a source-free user brings to jcas.

    python3 tools/python/train_lraspp.py --data work/data/source --out lraspp.pt

The module takes RGB images normalised with ImageNet's mean/std (jcas's default TorchScript input
convention) and returns {"out": logits B x K x H x W}, torchvision's segmentation convention. No
pretrained weights are downloaded (weights=None, weights_backbone=None)."""
import argparse
import os
import random
import sys
import time

import numpy as np
import torch
import torchvision

sys.path.insert(0, os.path.dirname(__file__))
import jcas_io  # noqa: E402


def load_split(root, split):
    images, labels = [], []
    for name in jcas_io.split_names(root, split):
        rgb = jcas_io.read_rgb(os.path.join(root, "img", name + ".png"))
        images.append(jcas_io.to_input(rgb, jcas_io.IMAGENET)[0])
        labels.append(torch.from_numpy(jcas_io.read_label(os.path.join(root, "label", name + ".png")).astype(np.int64)))
    return torch.stack(images), torch.stack(labels)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True, help="labelled dataset folder (img/, label/, <split>.txt, info.json)")
    p.add_argument("--split", default="train")
    p.add_argument("--out", required=True, help="TorchScript file to write")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0, help="0: PyTorch's default")
    args = p.parse_args()
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    if args.threads:
        torch.set_num_threads(args.threads)

    k = jcas_io.num_classes(args.data)
    x, y = load_split(args.data, args.split)
    model = torchvision.models.segmentation.lraspp_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=k)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, args.epochs)
    start = time.time()
    for epoch in range(args.epochs):
        model.train()
        order = torch.randperm(len(x))
        total, batches = 0.0, 0
        for b in range(0, len(x) - args.batch + 1, args.batch):  # full batches only (BatchNorm)
            idx = order[b:b + args.batch]
            xb, yb = x[idx], y[idx]
            flip = torch.rand(len(idx)) < 0.5
            xb[flip], yb[flip] = xb[flip].flip(-1), yb[flip].flip(-1)
            loss = torch.nn.functional.cross_entropy(model(xb)["out"], yb, ignore_index=255)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item()
            batches += 1
        sched.step()
        print(f"epoch {epoch + 1}/{args.epochs}  loss {total / max(batches, 1):.4f}  {time.time() - start:.0f} s", flush=True)
    model.eval()
    torch.jit.save(torch.jit.script(model), args.out)
    print(f"wrote {args.out} ({k} classes, input: RGB, ImageNet mean/std)")


if __name__ == "__main__":
    main()
