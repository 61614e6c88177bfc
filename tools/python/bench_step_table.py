#!/usr/bin/python3
"""The training-step rows of `jcas-bench` runs side by side, as the README's speed tables show them.

    build/jcas-bench --sections step --threads 2 > new.jsonl
    /usr/bin/python3 tools/python/bench_step_table.py before=old.jsonl now=new.jsonl [now=new2.jsonl ...]

Each argument is LABEL=FILE (JSON lines printed by jcas-bench); files with the same label are
several runs of one binary (each cell then gives the range). A cell is the step's median time and,
for JCAS, its ratio to the CE step of the same run (the steps were taken in turn in one process).
"""
import json
import sys
from collections import OrderedDict


def case(j):
    return f"{j['method'].upper() if j['method'] != 'jcas' else 'JCAS'} {j['impl']} {j['grid']}" if j["method"] != "ce" \
        else "CE"


runs = OrderedDict()  # label -> list of {case: (ms, ratio)}
for arg in sys.argv[1:]:
    label, path = arg.split("=", 1)
    rows = {}
    with open(path) as f:
        for line in f:
            j = json.loads(line)
            if j.get("measure") != "training step":
                continue
            rows[case(j)] = (1000 * j["step_s"], j.get("over_ce"), j["input"], j["threads"])
    runs.setdefault(label, []).append(rows)

cases = []
for label_runs in runs.values():
    for rows in label_runs:
        cases += [c for c in rows if c not in cases]


def cell(values):
    if not values:
        return ""
    ms = [v[0] for v in values]
    ratios = [v[1] for v in values if v[1] is not None]
    text = f"{min(ms):.1f} ms" if len(ms) == 1 else f"{min(ms):.1f}–{max(ms):.1f} ms"
    if ratios:
        text += f" ({min(ratios):.2f}x)" if len(ratios) == 1 else f" ({min(ratios):.2f}–{max(ratios):.2f}x)"
    return text


print("| training step | " + " | ".join(f"{label} ({len(r)} run{'s' if len(r) > 1 else ''})"
                                        for label, r in runs.items()) + " |")
print("| --- |" + " --: |" * len(runs))
for c in cases:
    print(f"| {c} | " + " | ".join(cell([rows[c] for rows in r if c in rows]) for r in runs.values()) + " |")
