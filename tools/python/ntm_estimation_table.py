#!/usr/bin/python3
"""Markdown table of T_C estimation on real pseudo labels, from a benchmark's runs: per seed, the
pseudo labels' polyp share against the truth's, their true class NTM (labels of the target train
split) and each label-free estimator's error (mean L1 error of a row, as `estimate_ntm` reports).
Round 0's labels come from the source model and are the same for every method: shown once.

    /usr/bin/python3 tools/python/ntm_estimation_table.py WORKDIR/benchmark
"""
import glob
import sys

import h5py
import numpy as np

root = sys.argv[1]
print("| seed | method | round | pseudo-label polyp share (true) | true T_C | anchor | confident | class_anchor | identity |")
print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
for f in sorted(glob.glob(f"{root}/shift1/seed*/*/round-*/estimate_ntm.h5")):
    parts = f.split("/")
    seed, method, rnd = parts[-4], parts[-3], parts[-2]
    # round 0's labels come from the source model, the same for every method: shown once (as "every")
    if method in ("adabn", "upper_bound") or (rnd == "round-0" and method != "ce"):
        continue
    if rnd == "round-0":
        method = "every"
    h = h5py.File(f, "r")
    t = h["true_class_ntm"][()]
    err = {k: np.abs(h["estimates"][k][()] - t).sum() / t.shape[0] for k in h["estimates"]}
    fmt = lambda m: "[[%.3f, %.3f], [%.3f, %.3f]]" % tuple(np.asarray(m).ravel())
    print(f"| {seed[4:]} | {method} | {rnd[6:]} | {h['class_dist'][1]:.3f} ({h['true_class_dist'][1]:.3f}) | {fmt(t)} | "
          f"{err['anchor']:.3f} | {err['confident']:.3f} | {err['class_anchor']:.3f} | {err['identity']:.3f} |")
