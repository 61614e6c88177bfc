#!/usr/bin/python3
"""tools/python/benchmark_entry_choice.py on a tiny `jcas benchmark` with two entries of CE
(`ce` and `ce@retrain.lr=0.02`, 2 seeds): the entry it chooses is the one whose mean label-free
criterion after the last round is higher (read here from the runs' summary files), and the paired
differences it prints are that entry's test mDice minus the source model's, per seed. A method with
one entry is one error. One thread, well under a minute. Exits non-zero on failure.

    /usr/bin/python3 tests/python/test_benchmark_entry_choice.py --jcas build/jcas
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(os.path.dirname(os.path.dirname(HERE)), "tools", "python", "benchmark_entry_choice.py")
FAILURES = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    if not ok:
        FAILURES.append(what)


ap = argparse.ArgumentParser()
ap.add_argument("--jcas", required=True)
args = ap.parse_args()

work = tempfile.mkdtemp(prefix="jcas_entry_choice_")
try:
    tiny = ["--seeds", "2", "--shifts", "1", "--rounds", "1", "--source.epochs", "1", "--retrain.epochs", "1",
            "--retrain.warmup_epochs", "0", "--threads", "1", "--synth.source_train", "8", "--synth.target_train", "8",
            "--synth.target_val", "2", "--synth.target_test", "4", "--synth.size", "32x40", "--data.input_size",
            "32x40", "--model.width", "8", "--model.feat1_dim", "16", "--model.feat2_dim", "16",
            "--retrain.affinity_grid", "4x5", "--pseudo_label.prob_stride", "2", "--transductive", "true"]
    run = subprocess.run([args.jcas, "benchmark", "--workdir", work, "--methods", "source,ce,ce@retrain.lr=0.02"] + tiny,
                         capture_output=True, text=True)
    check(run.returncode == 0, "the benchmark runs: " + run.stderr[-2000:])
    root = os.path.join(work, "benchmark")
    out = subprocess.run([sys.executable, SCRIPT, root, "--method", "ce"], capture_output=True, text=True)
    check(out.returncode == 0, "the script runs: " + out.stderr)
    print(out.stdout)

    def summary(seed, entry):
        with open(os.path.join(root, "shift1", f"seed{seed}", entry + ".result.json")) as f:
            return json.load(f)

    def last(column):
        return [x for x in column if x is not None][-1]

    crit = {e: sum(last(summary(s, e)["criterion_flip_agreement"]) for s in (0, 1)) / 2
            for e in ("ce", "ce@retrain.lr=0.02")}
    expected = "ce" if crit["ce"] >= crit["ce@retrain.lr=0.02"] else "ce@retrain.lr=0.02"
    check(f"Chosen by `flip_agreement`: **{expected}**;" in out.stdout, f"chooses {expected} (criteria {crit})")
    diffs = [100 * (last(summary(s, expected)["test_mdice"]) - summary(s, "source")["test_mdice"][0]) for s in (0, 1)]
    printed = re.search(r"per seed: ([^ ]+), ([^ ]+) \(mean", out.stdout)
    check(printed is not None and all(abs(float(p) - d) < 0.006 for p, d in zip(printed.groups(), diffs)),
          f"prints the chosen entry's paired differences {diffs}")
    check(out.stdout.count("| ce") == 2, "one row per entry")
    one = subprocess.run([sys.executable, SCRIPT, root, "--method", "jcas"], capture_output=True, text=True)
    check(one.returncode != 0 and "fewer than two entries of jcas" in one.stderr, "one entry is one error: " + one.stderr)
finally:
    shutil.rmtree(work, ignore_errors=True)

if FAILURES:
    print(f"{len(FAILURES)} check(s) failed", file=sys.stderr)
    sys.exit(1)
