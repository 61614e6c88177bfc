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

if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--jcas", required=True)
    args, rest = parser.parse_known_args()
    JCAS = os.path.abspath(args.jcas)
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)
