#!/usr/bin/python3
"""Markdown tables of JCAS with each T_C estimator on a labelled target split: per seed, every
estimator's error on the round-0 pseudo labels (as `estimate_ntm` records it: mean L1 error of a row)
and the val score after one JCAS round started from each estimator's T_C, with the paired
difference from the default (`anchor`).

    /usr/bin/python3 tools/python/ntm_estimator_val_table.py DIR
DIR holds one work directory per run named ESTIMATOR_sSEED (e.g. anchor_s0, posterior_s0, oracle_s0),
each `jcas run --rounds 1 --data.test_split val --estimate_ntm.estimator ESTIMATOR` on the same
source model and pseudo labels per seed.
"""
import glob
import os
import re
import sys

import h5py
import numpy as np

root = sys.argv[1]
runs = {}
for d in sorted(glob.glob(f"{root}/*_s[0-9]*")):
    m = re.fullmatch(r"(.+)_s(\d+)", os.path.basename(d))
    if m and os.path.isfile(f"{d}/round-0/evaluate.h5"):
        runs[(m.group(1), int(m.group(2)))] = d
seeds = sorted({s for _, s in runs})
chosen = [e for e in ("anchor", "posterior", "oracle") if any((e, s) in runs for s in seeds)]

print("T_C estimation error on the round-0 pseudo labels (ClinicDB train split, the source model's):\n")
any_run = {s: next(runs[(e, s)] for e in chosen if (e, s) in runs) for s in seeds}
names = None
rows = []
for s in seeds:
    # the run whose estimate_ntm records the most estimators (one made by the newest jcas)
    h = max((h5py.File(f"{d}/round-0/estimate_ntm.h5", "r") for (e, t), d in runs.items() if t == s),
            key=lambda f: len(f["estimates"]))
    t = h["true_class_ntm"][()]
    names = names or [k for k in h["estimates"] if k != "oracle"]
    err = {k: np.abs(h["estimates"][k][()] - t).sum() / t.shape[0] for k in names}
    rows.append(f"| {s} | [[{t[0,0]:.3f}, {t[0,1]:.3f}], [{t[1,0]:.3f}, {t[1,1]:.3f}]] | " +
                " | ".join(f"{err[k]:.3f}" for k in names) + " |")
print("| seed | true T_C | " + " | ".join(names) + " |")
print("| --- | --- |" + " --: |" * len(names))
print("\n".join(rows))


def score(d, stage):
    a = h5py.File(f"{d}/round-0/{stage}.h5", "r").attrs
    return a["metric.test_mdice"], a["metric.test_mjac"]


print("\nJCAS, one round, started from each estimator's T_C; val mDice / mJac (x100):\n")
print("| seed | source model | " + " | ".join(f"JCAS, `{e}`" for e in chosen) + " |")
print("| --- | --: |" + " --: |" * len(chosen))
diffs = {e: [] for e in chosen}
for s in seeds:
    src = score(any_run[s], "evaluate_source")
    cells = []
    for e in chosen:
        if (e, s) not in runs:
            cells.append("–")
            continue
        v = score(runs[(e, s)], "evaluate")
        cells.append(f"{100 * v[0]:.2f} / {100 * v[1]:.2f}")
        if ("anchor", s) in runs:
            diffs[e].append(100 * (v[1] - score(runs[("anchor", s)], "evaluate")[1]))
    print(f"| {s} | {100 * src[0]:.2f} / {100 * src[1]:.2f} | " + " | ".join(cells) + " |")
print("\nPaired mJac difference from `anchor`, per seed (mean):\n")
for e in chosen[1:]:
    d = diffs[e]
    print(f"- `{e}`: " + ", ".join(f"{x:+.2f}" for x in d) + f" (mean {np.mean(d):+.2f}; above in {sum(x > 0 for x in d)} of {len(d)})")
