#!/usr/bin/python3
"""The training-step rows of `jcas-bench` runs side by side, as the README's speed tables show them.

    build/jcas-bench --sections step --threads 2 > new.jsonl
    /usr/bin/python3 tools/python/bench_step_table.py [--images] [--gflops] before=old.jsonl now=new.jsonl [...]

Each argument is LABEL=FILE (JSON lines printed by jcas-bench); files with the same label are
several runs of one binary (each cell then gives the range). A cell is the step's median time and,
for JCAS, its ratio to the CE step of the same run (the steps were taken in turn in one process);
with --images also the images per second, and the pseudo-labelling rows (images/s) below the table;
with --gflops the network's arithmetic rate (its forward and backward FLOPs, counted once for CE and
JCAS alike, per second) and its share of the run's arithmetic peak (the best of a large matrix
product and two large convolutions, listed below).
"""
import json
import sys
from collections import OrderedDict


def case(j):
    name = f"JCAS {j['impl']} {j['grid']}" if j["method"] == "jcas" else j["method"].upper()
    return name if j["input"] == "128x160" else f"{name} at {j['input']}"


images = "--images" in sys.argv[1:]
gflops = "--gflops" in sys.argv[1:]
runs = OrderedDict()  # label -> list of {case: (ms, ratio, images/s, GFLOP/s, share of peak)}
labelling = []  # pseudo-labelling rows: (label, input, inference, images/s)
peaks = OrderedDict()  # label -> matrix product GFLOP/s of each run
for arg in [a for a in sys.argv[1:] if not a.startswith("--")]:
    label, path = arg.split("=", 1)
    rows = {}
    with open(path) as f:
        for line in f:
            j = json.loads(line)
            if j.get("measure") == "pseudo-labelling":
                labelling.append((label, j["input"], j["inference"], j["images_per_s"]))
            if j.get("measure") == "arithmetic peak":
                peaks.setdefault(label, []).append(j)
            if j.get("measure") != "training step":
                continue
            rows[case(j)] = (1000 * j["step_s"], j.get("over_ce"), j["batch"] / j["step_s"], j.get("network_gflop_s"),
                             j.get("share_of_peak"))
    runs.setdefault(label, []).append(rows)

cases = []
for label_runs in runs.values():
    for rows in label_runs:
        cases += [c for c in rows if c not in cases]


def span(values, digits):
    """min–max of the runs, or one figure when they agree at this precision."""
    lo, hi = f"{min(values):.{digits}f}", f"{max(values):.{digits}f}"
    return lo if lo == hi else f"{lo}–{hi}"


def cell(values):
    if not values:
        return ""
    text = span([v[0] for v in values], 1) + " ms"
    if images:
        text += f", {span([v[2] for v in values], 1)} images/s"
    ratios = [v[1] for v in values if v[1] is not None]
    if ratios:
        text += f" ({span(ratios, 2)}x)"
    if gflops and all(v[3] is not None for v in values):
        text += f", {span([v[3] for v in values], 1)} GFLOP/s"
        if all(v[4] is not None for v in values):
            text += f" ({span([100 * v[4] for v in values], 0)} % of peak)"
    return text


print("| training step | " + " | ".join(f"{label} ({len(r)} run{'s' if len(r) > 1 else ''})"
                                        for label, r in runs.items()) + " |")
print("| --- |" + " --: |" * len(runs))
for c in cases:
    print(f"| {c} | " + " | ".join(cell([rows[c] for rows in r if c in rows]) for r in runs.values()) + " |")
if gflops and peaks:
    print()
    for label, values in peaks.items():
        print(f"- arithmetic peak ({label}, float32): matrix product 2048x2048 "
              f"{span([v['matrix_product_gflop_s'] for v in values], 1)} GFLOP/s, 3x3 convolution 128 channels "
              f"{span([v['conv3x3_gflop_s'] for v in values], 1)}, 1x1 convolution 128 -> 512 "
              f"{span([v['conv1x1_gflop_s'] for v in values], 1)}")
if images and labelling:
    print()
    rates = OrderedDict()
    for label, size, inference, rate in labelling:
        rates.setdefault((label, size, inference), []).append(rate)
    for (label, size, inference), values in rates.items():
        print(f"- pseudo-labelling ({label}, {size}, {inference}): {span(values, 1)} images/s")
