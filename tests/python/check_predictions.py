#!/usr/bin/python3
"""Interoperability test: a model exported by `jcas export`, loaded in PyTorch, gives the outputs jcas's
own inference gave (`jcas predict --probabilities`). Exit 0 when the logits (and, for a softmax
read-out, the probabilities) agree within --tol; prints the largest differences."""
import argparse
import os
import sys

import h5py
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tools", "python"))
import jcas_io  # noqa: E402
import jcas_native  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--model", required=True, help="file written by jcas export")
    p.add_argument("--predictions", required=True, help="probabilities.h5 written by jcas predict")
    p.add_argument("--images", required=True, help="the folder jcas predict read")
    p.add_argument("--tol", type=float, default=1e-5)
    args = p.parse_args()
    torch.set_num_threads(1)

    try:
        model = torch.jit.load(args.model, map_location="cpu")
        convention = jcas_io.IMAGENET
    except RuntimeError:  # not TorchScript: the native network's checkpoint
        model, _ = jcas_native.load(args.model)
        convention = jcas_io.JCAS_NATIVE
    model.eval()
    with h5py.File(args.predictions, "r") as f:
        names = f.attrs["images"].split("\n")
        logits_jcas = torch.from_numpy(f["logits"][...])
        probs_jcas = torch.from_numpy(f["probabilities"][...])
        readout = f.attrs["readout"]
    worst_logit = worst_prob = 0.0
    with torch.no_grad():
        for i, name in enumerate(names):
            rgb = jcas_io.read_rgb(os.path.join(args.images, name))
            if rgb.shape[:2] != tuple(probs_jcas.shape[-2:]):
                sys.exit(f"{name}: {rgb.shape[:2]} is not the input size {tuple(probs_jcas.shape[-2:])}; "
                         "this check needs images at the model's input size")
            logits = jcas_io.logits_of(model(jcas_io.to_input(rgb, convention)))
            # Logits are compared relative to their size (float32 sums in another order differ in
            # the last bits, and logits reach tens); probabilities absolutely.
            scale = max(1.0, logits_jcas[i].abs().max().item())
            worst_logit = max(worst_logit, (logits[0] - logits_jcas[i]).abs().max().item() / scale)
            if readout == "softmax":
                probs = jcas_io.softmax_readout(logits, *rgb.shape[:2])
                worst_prob = max(worst_prob, (probs[0] - probs_jcas[i]).abs().max().item())
    print(f"{len(names)} images, read-out {readout}: largest |logit difference| / max(1, |logit|) {worst_logit:.3g}, "
          f"largest |probability difference| {worst_prob:.3g} (tolerance {args.tol:g})")
    sys.exit(0 if worst_logit <= args.tol and worst_prob <= args.tol else 1)


if __name__ == "__main__":
    main()
