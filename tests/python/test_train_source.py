#!/usr/bin/python3
"""tools/python/train_source.py on a tiny dataset in jcas's layout (24 random 64x64 images, a bright
disc as class 1; a 3-class variant): every architecture trains 2 epochs, with and without MobileNetV2
backbone weights (a random torchvision mobilenet_v2 state_dict saved to a temporary file), the
TorchScript it writes loads back and returns {"out": B x K x H x W} for inputs of other sizes
divisible by 32, FILE.pt.json records the run, and a mismatched weights file is one error naming it.
One thread, well under a minute. Exits non-zero on failure.

    /usr/bin/python3 tests/python/test_train_source.py
"""
import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
import torchvision
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
TOOLS = os.path.join(os.path.dirname(os.path.dirname(HERE)), "tools", "python")
sys.path.insert(0, TOOLS)
import segmentation_models  # noqa: E402
import train_source  # noqa: E402

FAILURES = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    if not ok:
        FAILURES.append(what)


def make_dataset(root, classes, n=24, size=64, seed=0):
    rng = np.random.default_rng(seed)
    os.makedirs(os.path.join(root, "img"))
    os.makedirs(os.path.join(root, "label"))
    yy, xx = np.mgrid[:size, :size]
    names = []
    for i in range(n):
        img = rng.integers(0, 120, (size, size, 3)).astype(np.uint8)
        label = np.zeros((size, size), np.uint8)
        for c in range(1, classes):
            cy, cx, r = rng.integers(size // 4, 3 * size // 4, 2).tolist() + [int(rng.integers(size // 10, size // 5))]
            disc = (yy - cy) ** 2 + (xx - cx) ** 2 < r * r
            img[disc] = (255, 230 - 100 * (c - 1), 200)
            label[disc] = c
        label[0, :3] = 255  # ignored pixels
        names.append(f"im{i:02d}")
        Image.fromarray(img).save(os.path.join(root, "img", names[-1] + ".png"))
        Image.fromarray(label).save(os.path.join(root, "label", names[-1] + ".png"))
    with open(os.path.join(root, "train.txt"), "w") as f:
        f.write("# the first 16\n" + "\n".join(names[:16]) + "\n")
    with open(os.path.join(root, "val.txt"), "w") as f:
        f.write("\n".join(names[16:]) + "\n")
    with open(os.path.join(root, "info.json"), "w") as f:
        json.dump({"classes": classes, "label": ["background"] + [f"disc{c}" for c in range(1, classes)]}, f)


def check_model(path, classes, what, sizes=((64, 64), (96, 128), (32, 160))):
    model = torch.jit.load(path).eval()
    with torch.no_grad():
        for h, w in sizes:
            out = model(torch.randn(2, 3, h, w))
            check(isinstance(out, dict) and tuple(out["out"].shape) == (2, classes, h, w),
                  f"{what}: TorchScript output {tuple(out['out'].shape)} for a 2 x 3 x {h} x {w} input")
    return model


def train(args, what):
    """train_source.main in this process (one import of torch for all runs); its log kept quiet."""
    buf = io.StringIO()
    t = time.time()
    with contextlib.redirect_stdout(buf):
        info = train_source.main(args + ["--epochs", "2", "--threads", "1"])
    print(f"     {what}: {time.time() - t:.1f} s, val scores {[round(s, 3) for s in info['val_scores']]}")
    return info, buf.getvalue()


def main():
    torch.set_num_threads(1)
    tmp = tempfile.mkdtemp(prefix="jcas_train_source_")
    try:
        binary, three = os.path.join(tmp, "binary"), os.path.join(tmp, "three")
        make_dataset(binary, 2)
        make_dataset(three, 3, seed=1)
        torch.manual_seed(0)
        weights = os.path.join(tmp, "mobilenet_v2.pth")
        torch.save(torchvision.models.mobilenet_v2().state_dict(), weights)
        state = torch.load(weights)

        # The metrics: per-image Dice (an image empty in truth and prediction counts 1), mean IoU.
        truth = torch.tensor([[[0, 1], [1, 255]], [[0, 0], [0, 0]]], dtype=torch.uint8)
        pred = torch.tensor([[[1, 1], [0, 1]], [[0, 0], [0, 0]]], dtype=torch.uint8)
        check(abs(train_source.score(pred, truth, 2) - (0.5 + 1) / 2) < 1e-9, "per-image Dice, both empty = 1")
        check(abs(train_source.score(pred, truth, 3) - (4 / 6 + 1 / 3) / 2) < 1e-9, "mean IoU over present classes")

        # Backbone weights load into both MobileNetV2 networks; a wrong file is an error naming it.
        for arch in segmentation_models.MOBILENET_V2_ARCHS:
            net = segmentation_models.build(arch, 2, weights)
            got = {k.split(".", 2)[-1] if k.startswith("backbone.low.") or k.startswith("backbone.high.")
                   else k.split(".", 1)[-1]: v for k, v in net.state_dict().items() if k.startswith("backbone.")}
            check(len(got) > 200 and all(torch.equal(v, state["features." + k]) for k, v in got.items()),
                  f"{arch}: the {len(got)} backbone tensors are the file's features.*")
        bad = os.path.join(tmp, "not_mobilenet_v2.pth")
        torch.save({k: v for k, v in state.items() if not k.startswith("features.5.")}, bad)
        try:
            train(["--data", binary, "--out", os.path.join(tmp, "bad.pt"), "--backbone-weights", bad], "bad weights")
            check(False, "a mismatched weights file fails")
        except SystemExit as e:
            check("not_mobilenet_v2.pth" in str(e.code) and "features.5." in str(e.code),
                  f"a mismatched weights file is one error naming it: {e.code}")

        # The command line, as a user runs it: the default arch with backbone weights.
        out = os.path.join(tmp, "lraspp_w.pt")
        t = time.time()
        r = subprocess.run([sys.executable, os.path.join(TOOLS, "train_source.py"), "--data", binary, "--out", out,
                            "--backbone-weights", weights, "--epochs", "2", "--threads", "1"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300)
        print(f"     command line: {time.time() - t:.1f} s")
        check(r.returncode == 0, f"train_source.py exits 0 (got {r.returncode})" + ("" if r.returncode == 0 else "\n" + r.stdout))
        if r.returncode == 0:
            lines = r.stdout.splitlines()
            check(sum(" epoch " in line and "val dice" in line and "img/s" in line and "ETA" in line for line in lines) == 2,
                  "one dated line per epoch with loss, val dice, images/s and ETA")
            check("chosen epoch" in lines[-1], "the last line names the chosen epoch")
            with open(out + ".json") as f:
                info = json.load(f)
            check(info["arch"] == "lraspp_mobilenet_v2" and info["val_metric"] == "dice" and len(info["val_scores"]) == 2
                  and info["chosen_val_score"] == max(info["val_scores"]) and info["arguments"]["freeze_bn"]
                  and info["training_seconds"] > 0, "FILE.pt.json: arguments, val scores, chosen epoch, time")
            check(info["bn_restats"]["max_abs_eval_change"] < 1e-3,
                  f"BatchNorm re-statistics keep the output ({info['bn_restats']['max_abs_eval_change']:.1e})")
            model = check_model(out, 2, "lraspp_mobilenet_v2 + weights")
            var = model.state_dict()["backbone.low.0.1.running_var"]
            check(not torch.allclose(var, torch.ones_like(var)), "frozen BatchNorm got the training images' statistics")

        # The other runs in this process.
        for what, arch, data, classes, extra in [
                ("lraspp_mobilenet_v2", "lraspp_mobilenet_v2", binary, 2, []),
                ("deeplabv3_mobilenet_v2 + weights", "deeplabv3_mobilenet_v2", binary, 2, ["--backbone-weights", weights]),
                ("deeplabv3_mobilenet_v2 --size 32x64", "deeplabv3_mobilenet_v2", binary, 2, ["--size", "32x64"]),
                ("lraspp_mobilenet_v3_large, 3 classes", "lraspp_mobilenet_v3_large", three, 3, [])]:
            out = os.path.join(tmp, what.replace(" ", "_").replace(",", "") + ".pt")
            info, _ = train(["--data", data, "--out", out, "--arch", arch] + extra, what)
            check(info["val_metric"] == ("dice" if classes == 2 else "miou") and len(info["val_scores"]) == 2
                  and 0 <= info["chosen_val_score"] <= 1 and os.path.exists(out + ".json"), f"{what}: trained, scored")
            check(info["arguments"]["freeze_bn"] == (extra[:1] == ["--backbone-weights"]), f"{what}: --freeze-bn default")
            if "--size" in extra:
                check(info["size"] == [32, 64], f"{what}: trained at 32x64")
            check_model(out, classes, what)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if FAILURES:
        print(f"{len(FAILURES)} check(s) failed")
        sys.exit(1)
    print("all checks passed")


if __name__ == "__main__":
    main()
