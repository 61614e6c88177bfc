#!/usr/bin/python3
"""Interoperability with PyTorch, checked from Python: a model trained and scripted in PyTorch is
adapted by jcas on a target whose adaptation splits are unlabelled; jcas's evaluate_source figures equal
what PyTorch computes for the same module (1e-3); the exported models (TorchScript, and the native
network's checkpoint) give in PyTorch the outputs of jcas's own inference (1e-5).

    python3 tests/python/test_interop.py --jcas build/jcas
"""
import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

import h5py

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PYTHON = sys.executable
JCAS = None
TINY = ["--rounds", "1", "--threads", "1", "--data.input_size", "32x40", "--model.width", "8",
        "--model.feat1_dim", "16", "--model.feat2_dim", "16", "--source.epochs", "2", "--retrain.epochs", "2",
        "--retrain.warmup_epochs", "1", "--retrain.affinity_grid", "4x5", "--pseudo_label.prob_stride", "2"]


def run(cmd, **kw):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600, **kw)
    if r.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited {r.returncode}:\n{r.stdout[-3000:]}")
    return r.stdout


def metric(workdir, stage, key):
    [path] = glob.glob(os.path.join(workdir, "**", stage + ".h5"), recursive=True)
    with h5py.File(path, "r") as f:
        return float(f.attrs["metric." + key])


class Interop(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="jcas_interop_")
        run([JCAS, "synth", "--out", os.path.join(cls.dir, "ds"), "--source-train", "8", "--source-val", "1",
             "--source-test", "2", "--target-train", "4", "--target-val", "1", "--target-test", "3", "--size", "32x40"])
        # The target as a source-free user has it: no labels for the images it adapts on (train, val);
        # a labelled test split to score on.
        cls.target = os.path.join(cls.dir, "ds", "target")
        for split in ("train", "val"):
            with open(os.path.join(cls.target, split + ".txt")) as listed:
                names = listed.read().split()
            for name in names:
                os.remove(os.path.join(cls.target, "label", name + ".png"))
        cls.model = os.path.join(cls.dir, "lraspp.pt")
        run([PYTHON, os.path.join(ROOT, "tools", "python", "train_source.py"), "--data",
             os.path.join(cls.dir, "ds", "source"), "--out", cls.model, "--arch", "lraspp_mobilenet_v3_large",
             "--epochs", "2", "--batch", "4", "--threads", "1"])

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def predictions(self, workdir, model_round, extra):
        out = os.path.join(workdir, f"predict{model_round}")
        run([JCAS, "predict", "--workdir", workdir, "--model", str(model_round), "--images",
             os.path.join(self.target, "img"), "--out", out, "--probabilities"] + extra)
        return os.path.join(out, "probabilities.h5")

    def test_torchscript_model_adapts_evaluates_as_pytorch_and_exports(self):
        work = os.path.join(self.dir, "ts")
        opts = ["--workdir", work, "--data.target", self.target, "--source.torchscript", self.model] + TINY
        log = run([JCAS, "run"] + opts)
        self.assertIn("evaluate", log)
        # evaluate_source in jcas == the same module scored in PyTorch.
        scored = json.loads(run([PYTHON, os.path.join(HERE, "evaluate_torchscript.py"), "--model", self.model,
                                 "--data", self.target, "--split", "test"]).strip().splitlines()[-1])
        print(f"evaluate_source test mJac: jcas {metric(work, 'evaluate_source', 'test_mjac'):.6f}, "
              f"PyTorch {scored['mean_jaccard']:.6f}")
        self.assertAlmostEqual(metric(work, "evaluate_source", "test_mjac"), scored["mean_jaccard"], delta=1e-3)
        self.assertAlmostEqual(metric(work, "evaluate_source", "test_mdice"), scored["mean_dice"], delta=1e-3)
        # The adapted model, exported, predicts in PyTorch what it predicts in jcas. The work directory
        # remembers its configuration: no options beyond --workdir.
        exported = os.path.join(self.dir, "adapted.pt")
        run([JCAS, "export", "--workdir", work, "--model", "1", "--out", exported])
        h5 = self.predictions(work, 1, [])
        print(run([PYTHON, os.path.join(HERE, "check_predictions.py"), "--model", exported, "--predictions", h5,
                   "--images", os.path.join(self.target, "img")]))

    def test_native_network_export_loads_in_pytorch(self):
        work = os.path.join(self.dir, "native")
        opts = ["--workdir", work, "--data.source", os.path.join(self.dir, "ds", "source"), "--data.target",
                self.target] + TINY
        run([JCAS, "run"] + opts)
        for model_round in (0, 1):
            exported = os.path.join(self.dir, f"native{model_round}.pt")
            run([JCAS, "export", "--workdir", work, "--model", str(model_round), "--out", exported])
            h5 = self.predictions(work, model_round, [])
            print(run([PYTHON, os.path.join(HERE, "check_predictions.py"), "--model", exported, "--predictions", h5,
                       "--images", os.path.join(self.target, "img")]))
        # Its TorchScript form returns the reference tuple, which jcas imports again as a source model
        # (the source model: read out with softmax, as an imported model's evaluate_source is).
        scripted = os.path.join(self.dir, "native0.ts.pt")
        run([PYTHON, os.path.join(ROOT, "tools", "python", "jcas_native.py"), os.path.join(self.dir, "native0.pt"),
             "--script", scripted])
        again = os.path.join(self.dir, "reimported")
        imported = ["--workdir", again, "--data.target", self.target, "--source.torchscript", scripted,
                    "--source.input_channels", "bgr", "--source.input_scale", "1", "--source.input_mean",
                    "128,128,128", "--source.input_std", "128,128,128", "--threads", "1", "--data.input_size", "32x40"]
        for stage in ("source", "evaluate_source"):
            run([JCAS, "stage", stage] + imported)
        self.assertAlmostEqual(metric(again, "evaluate_source", "test_mjac"), metric(work, "evaluate_source", "test_mjac"),
                               delta=1e-6)

    def test_imagenet_backbone_from_torchvision(self):
        """torchvision's mobilenet_v2 weights (random here, BatchNorm statistics too) start the native
        network's backbone by name; its layers then compute what torchvision's do, dilated."""
        import torch
        import torchvision
        sys.path.insert(0, os.path.join(ROOT, "tools", "python"))
        import jcas_native
        torch.manual_seed(0)
        tv = torchvision.models.mobilenet_v2()
        for bn in (m for m in tv.modules() if isinstance(m, torch.nn.BatchNorm2d)):
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 2.0)
            bn.weight.data.uniform_(0.5, 1.5)
            bn.bias.data.uniform_(-0.2, 0.2)
        original = os.path.join(self.dir, "mobilenet_v2.pth")
        torch.save(tv.state_dict(), original)  # an OrderedDict, as torchvision's files are
        converted = os.path.join(self.dir, "mobilenet_v2_backbone.pt")
        convert = [PYTHON, os.path.join(ROOT, "tools", "python", "torchvision_backbone.py")]
        run(convert + [original, converted])
        # A file of another architecture: one message naming it, nothing written.
        other = os.path.join(self.dir, "not_torchvision.pth")
        torch.save({"weight": torch.zeros(3)}, other)
        r = subprocess.run(convert + [other, other + ".pt"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, timeout=600)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("not_torchvision.pth: is not a torchvision resnet101 or mobilenet_v2 state_dict", r.stdout)
        self.assertFalse(os.path.exists(other + ".pt"))

        work = os.path.join(self.dir, "mnv2")
        opts = ["--workdir", work, "--data.source", os.path.join(self.dir, "ds", "source"), "--data.target",
                self.target] + TINY + ["--model.preset", "mobilenet_v2", "--model.input_norm", "imagenet",
                                       "--model.batchnorm", "frozen", "--source.lr", "1e-12"]
        # torchvision's file as it is: one clear error naming the converter, nothing written.
        r = subprocess.run([JCAS, "stage", "source", "--source.backbone_weights", original] + opts,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("torchvision_backbone.py", r.stdout)
        self.assertEqual(glob.glob(os.path.join(work, "**", "source.h5"), recursive=True), [])
        # Converted: trained with a vanishing rate and frozen BatchNorm, the backbone keeps torchvision's tensors.
        log = run([JCAS, "stage", "source", "--source.backbone_weights", converted] + opts)
        self.assertIn("backbone from", log)
        exported = os.path.join(self.dir, "mnv2_source.pt")
        run([JCAS, "export", "--workdir", work, "--model", "0", "--out", exported])
        model, info = jcas_native.load(exported)
        starts = jcas_native.MOBILENET_V2_PART_STARTS
        reference = tv.state_dict()
        parts = ["stem", "stage1", "stage2", "stage3", "stage4"]
        for name, value in model.backbone.state_dict().items():
            part, index, rest = name.split(".", 2)
            tv_name = f"features.{starts[parts.index(part)] + int(index)}.{rest}"
            self.assertTrue(torch.allclose(value.float(), reference[tv_name].float(), atol=1e-6), name)
        # torchvision's own modules, dilated as DeepLab's output stride 8 has them, on the same input.
        for i in range(7, 18):
            depthwise = tv.features[i].conv[1][0]
            d = 2 if i < 14 else 4
            depthwise.stride, depthwise.dilation, depthwise.padding = (1, 1), (d, d), (d, d)
        tv.eval()
        x = torch.rand(2, 3, 64, 48) * 2 - 1  # jcas's convention: BGR, (v - 128) / 128
        rgb = (x.flip(1) * 128 + 128) / 255
        imagenet = (rgb - torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)) / torch.tensor(
            [0.229, 0.224, 0.225]).view(1, 3, 1, 1)
        with torch.no_grad():
            expected = tv.features[:18](imagenet)
            b = model.backbone
            got = b.stage4(b.stage3(b.stage2(b.stage1(b.stem(
                torch.addcmul(model.input_shift, x.flip(1), model.input_scale))))))
        self.assertEqual(tuple(got.shape), (2, 320, 8, 6))
        print(f"mobilenet_v2 backbone vs torchvision: max |diff| {float((got - expected).abs().max()):.2e}")
        self.assertTrue(torch.allclose(got, expected, atol=1e-4, rtol=1e-4))
        # And jcas's own inference of that model is what the PyTorch module computes.
        print(run([PYTHON, os.path.join(HERE, "check_predictions.py"), "--model", exported, "--predictions",
                   self.predictions(work, 0, []), "--images", os.path.join(self.target, "img")]))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--jcas", required=True)
    args, rest = parser.parse_known_args()
    JCAS = os.path.abspath(args.jcas)
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)
