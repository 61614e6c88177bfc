#!/usr/bin/python3
"""Scores a TorchScript segmentation module on a jcas dataset split in PyTorch alone, with jcas's
protocol (pipeline/metrics/segmentation_metrics.h, per image): each foreground class is scored on
the images whose ground truth contains it and averaged over them; 255 is ignored; the mean is over
the classes scored. Prints one JSON object {"mean_jaccard": ..., "mean_dice": ...}."""
import argparse
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tools", "python"))
import jcas_io  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--model", required=True)
    p.add_argument("--data", required=True, help="dataset folder (img/, label/, <split>.txt, info.json)")
    p.add_argument("--split", default="test")
    args = p.parse_args()
    torch.set_num_threads(1)
    model = torch.jit.load(args.model, map_location="cpu").eval()
    k = jcas_io.num_classes(args.data)
    jac_sum, dice_sum, present = np.zeros(k), np.zeros(k), np.zeros(k)
    with torch.no_grad():
        for name in jcas_io.split_names(args.data, args.split):
            rgb = jcas_io.read_rgb(os.path.join(args.data, "img", name + ".png"))
            gt = jcas_io.read_label(os.path.join(args.data, "label", name + ".png"))
            logits = jcas_io.logits_of(model(jcas_io.to_input(rgb, jcas_io.IMAGENET)))
            pred = jcas_io.softmax_readout(logits, *rgb.shape[:2])[0].argmax(0).numpy()
            valid = gt != 255
            for c in range(1, k):
                g, q = (gt == c) & valid, (pred == c) & valid
                if not g.any():
                    continue
                inter, union = np.sum(g & q), np.sum(g | q)
                jac_sum[c] += inter / union
                dice_sum[c] += 2 * inter / (g.sum() + q.sum())
                present[c] += 1
    scored = present[1:] > 0
    print(json.dumps({"mean_jaccard": float(np.mean(jac_sum[1:][scored] / present[1:][scored])),
                      "mean_dice": float(np.mean(dice_sum[1:][scored] / present[1:][scored]))}))


if __name__ == "__main__":
    main()
