#!/usr/bin/python3
"""The entries of one method in a `jcas benchmark` (`jcas`, `jcas@estimate_ntm.estimator=posterior`,
...) as configurations, one chosen without labels: by the default label-free criterion after the
last round, mean over seeds, one entry for every seed (the rule of `--tune`; ties to the entry
listed first). From the runs' summary files (`shift<X>/seed<S>/<entry>.result.json`); test scores
only score the choice.

    /usr/bin/python3 tools/python/benchmark_entry_choice.py WORKDIR/benchmark --method jcas [--shift 1]

Prints a Markdown table: each entry's criterion, test and adapted-split mDice (%) per seed and
their mean, and the entry the criterion chooses with its paired difference to the source model.
"""
import argparse
import glob
import json
import os
import re
import sys

import numpy as np

ap = argparse.ArgumentParser()
ap.add_argument("root", help="a benchmark directory (WORKDIR/benchmark)")
ap.add_argument("--method", required=True, help="the method whose entries are compared, e.g. jcas")
ap.add_argument("--shift", default="1")
args = ap.parse_args()


def last(column):
    """The last computed value of a score column (the last round), or None."""
    values = [x for x in column if x is not None]
    return values[-1] if values else None


runs = {}  # entry -> seed -> summary
criterion_key = None
for path in glob.glob(os.path.join(args.root, f"shift{args.shift}", "seed*", "*.result.json")):
    seed = int(re.search(r"seed(\d+)", path).group(1))
    with open(path) as f:
        j = json.load(f)
    if "test_mdice" not in j:
        sys.exit(f"{path}: not a run summary of this jcas (no test_mdice); re-run the benchmark to rewrite it")
    if "knob" in j and j["run"] != j["method"]:
        continue  # a --tune variant: its own table in the report
    criterion_key = next(k for k in j if k.startswith("criterion_"))
    runs.setdefault(j["method"], {})[seed] = j
entries = sorted((e for e in runs if e == args.method or e.startswith(args.method + "@")),
                 key=lambda e: (e != args.method, e))
if len(entries) < 2:
    sys.exit(f"{args.root}: fewer than two entries of {args.method}: {entries}")
seeds = sorted(set.intersection(*(set(runs[e]) for e in entries)) & set(runs.get("source", {})))
if not seeds:
    sys.exit(f"{args.root}: no seed has every entry of {args.method} and the source model")


def row(entry, key):
    return [last(runs[entry][s][key]) for s in seeds]


def pct(x):
    return "–" if x is None else f"{100 * x:.2f}"


criterion = criterion_key[len("criterion_"):]
print(f"Entries of `{args.method}` after the last round, seeds {', '.join(map(str, seeds))}: the label-free "
      f"criterion `{criterion}` on the images adapted on, test and adapted-split mDice (%), per seed; mean.\n")
print(f"| entry | `{criterion}` | mean | test mDice | mean | adapted mDice | mean |")
print("| --- | --- | --: | --- | --: | --- | --: |")
means = {}
for e in entries:
    c, t, a = row(e, criterion_key), row(e, "test_mdice"), row(e, "adapted_mdice")
    means[e] = np.mean(c) if None not in c else -np.inf
    print(f"| {e} | {', '.join(f'{x:.4f}' for x in c)} | {means[e]:.4f} | {', '.join(map(pct, t))} | "
          f"{pct(np.mean(t)) if None not in t else '–'} | {', '.join(map(pct, a))} | "
          f"{pct(np.mean(a)) if None not in a else '–'} |")
chosen = max(entries, key=lambda e: means[e])  # max keeps the first of ties
source = [runs["source"][s]["test_mdice"][0] for s in seeds]
diff = [100 * (t - s) for t, s in zip(row(chosen, "test_mdice"), source)]
print(f"\nChosen by `{criterion}`: **{chosen}**; its test mDice minus the source model's, per seed: "
      f"{', '.join(f'{d:+.2f}' for d in diff)} (mean {np.mean(diff):+.2f}, "
      f"{sum(d > 0 for d in diff)}/{len(diff)} above).")
