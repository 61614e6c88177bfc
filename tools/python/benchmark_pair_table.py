#!/usr/bin/python3
"""Two benchmarks of the same seeds side by side, paired: for each method and round, each seed's
test mJac in benchmark A and in benchmark B and their difference B - A (points), e.g. the last
epoch against an epoch chosen by a label-free criterion (`--retrain.select flip_agreement`).

    /usr/bin/python3 tools/python/benchmark_pair_table.py A_DIR B_DIR [--labels A,B]

Each DIR is a `jcas benchmark` directory (shift<X>/seed<S>/<method>/); pairs exist where both have
the run. The source model (round 0) is shared by construction and left out.
"""
import argparse
import glob
import os
import re

import h5py
import numpy as np

ap = argparse.ArgumentParser()
ap.add_argument("a")
ap.add_argument("b")
ap.add_argument("--labels", default="A,B")
args = ap.parse_args()
la, lb = args.labels.split(",")


def scores(root):
    """(shift, method, round, seed) -> test mJac (%) of every round's model."""
    out = {}
    for run in glob.glob(f"{root}/shift*/seed*/*/"):
        m = re.search(r"shift([^/]+)/seed(\d+)/([^/]+)/$", run)
        if not m or m.group(3) == "base":
            continue
        for r in range(100):
            f = f"{run}round-{r}/evaluate.h5"
            if not os.path.isfile(f):
                break
            out[(m.group(1), m.group(3), r + 1, int(m.group(2)))] = 100 * float(h5py.File(f, "r").attrs["metric.test_mjac"])
    return out


a, b = scores(args.a), scores(args.b)
pairs = sorted(set(a) & set(b))
if not pairs:
    raise SystemExit("no run in both benchmarks")
rows = sorted({(s, m, r) for s, m, r, _ in pairs})
seeds = sorted({k[3] for k in pairs})
print(f"Test mJac (%) per seed, {la} → {lb}, and the paired difference {lb} − {la} (points):\n")
print("| shift | method | round | " + " | ".join(f"seed {s}" for s in seeds) + " | mean difference | above |")
print("| --- | --- | --: |" + " --- |" * len(seeds) + " --: | --: |")
for s, m, r in rows:
    d, cells = [], []
    for seed in seeds:
        k = (s, m, r, seed)
        if k in a and k in b:
            cells.append(f"{a[k]:.2f} → {b[k]:.2f}")
            d.append(b[k] - a[k])
        else:
            cells.append("–")
    print(f"| {s} | {m} | {r} | " + " | ".join(cells) + f" | {np.mean(d):+.2f} | {sum(x > 0 for x in d)} of {len(d)} |")
