#!/usr/bin/python3
"""How well each label-free criterion chooses, where labels exist to check it: Markdown tables
from a `jcas benchmark` directory whose runs recorded their criteria (the criteria_source and
criteria stages) and their test scores.

    /usr/bin/python3 tools/python/label_free_selection_table.py BENCHMARK_DIR [--exclude m1,m2]

BENCHMARK_DIR holds shift<X>/seed<S>/<method>/ work directories (what `jcas benchmark` makes).
Candidates per (shift, seed): the source model (round 0, shared by every method) and each
method's model after each round; `upper_bound` (trained on the true labels) is not a candidate.
For each criterion: the candidate it chooses, the regret of that choice (best candidate's test
mJac minus the chosen one's, points), the Spearman rank correlation of the criterion with test
mJac over the candidates, and the choices that collapsed (test mJac below half the source
model's). Beside them the plain rules a user could follow without labels, and the oracle (test
labels; what no SFDA user has). A second table chooses only the round, within each method.
The test split is read to score the choices here, never to make them. `--scored-on val` for runs
re-scored on the val labels (tools/experiments/rerun_benchmark_with.sh ... --data.test_split val):
the scores that choose the default criterion, so that test only checks it.
"""
import argparse
import glob
import os
import re

import h5py
import numpy as np

CRITERIA = ["certainty", "confidence", "info_max", "flip_agreement", "dar_agreement", "snd", "expected_mjac"]
ap = argparse.ArgumentParser()
ap.add_argument("root", nargs="+", help="a benchmark directory; with --summary, several as LABEL=DIR")
ap.add_argument("--exclude", default="upper_bound", help="methods that are not candidates")
ap.add_argument("--default-method", default="jcas")
ap.add_argument("--summary", action="store_true",
                help="one table: each rule's mean regret (choices collapsed) per LABEL=DIR, and their mean")
ap.add_argument("--scored-on", default="test",
                help="the split the runs' evaluate stages scored (`val` for runs re-scored with --data.test_split val)")
args = ap.parse_args()
excluded = set(args.exclude.split(","))


def metrics(path):
    if not os.path.isfile(path):
        return None
    a = h5py.File(path, "r").attrs
    return {k[len("metric."):]: float(a[k]) for k in a if k.startswith("metric.")}


def candidates_of(run):
    """(round, criteria, test mJac) of each model of a work directory that has both."""
    out = []
    for r in range(0, 100):
        if r == 0:
            crit, score = metrics(f"{run}/round-0/criteria_source.h5"), metrics(f"{run}/round-0/evaluate_source.h5")
        else:
            crit, score = metrics(f"{run}/round-{r - 1}/criteria.h5"), metrics(f"{run}/round-{r - 1}/evaluate.h5")
        if r > 0 and not os.path.isdir(f"{run}/round-{r - 1}"):
            break
        if crit and score:
            out.append((r, {c: crit.get("lf_" + c, float("nan")) for c in CRITERIA}, 100 * score["test_mjac"]))
    return out


def spearman(x, y):
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = ~np.isnan(x)
    x, y = x[ok], y[ok]
    if len(x) < 3:
        return float("nan")

    def ranks(v):
        order = v.argsort()
        r = np.empty(len(v))
        r[order] = np.arange(len(v))
        for u in np.unique(v):  # ties share their mean rank
            r[v == u] = r[v == u].mean()
        return r

    rx, ry = ranks(x), ranks(y)
    if rx.std() == 0 or ry.std() == 0:
        return float("nan")
    return float(np.corrcoef(rx, ry)[0, 1])


def load_groups(root):
    """(shift, seed) -> the candidates [(method, round, criteria, mjac)] of a benchmark directory."""
    groups = {}
    for run in sorted(glob.glob(f"{root}/shift*/seed*/*/")):
        run = run.rstrip("/")
        m = re.search(r"shift([^/]+)/seed(\d+)/([^/]+)$", run)
        if not m or m.group(3) in excluded or m.group(3) == "base":
            continue
        g = groups.setdefault((m.group(1), int(m.group(2))), [])
        for r, crit, mjac in candidates_of(run):
            if r == 0:
                if not any(c[1] == 0 for c in g):
                    g.append(("source", 0, crit, mjac))
            else:
                g.append((m.group(3), r, crit, mjac))
    if not groups:
        raise SystemExit(f"no benchmark runs with criteria under {root}")
    return groups


def name(c):
    return "source" if c[1] == 0 else f"{c[0]} r{c[1]}"


def by_criterion(crit):
    return lambda g: max((c for c in g if not np.isnan(c[2][crit])), key=lambda c: c[2][crit], default=None)


def last_round(method):
    return lambda g: max((c for c in g if c[0] == method), key=lambda c: c[1], default=None)


rules = [(f"`{c}`", by_criterion(c), c) for c in CRITERIA]
rules += [("always the source model (no adaptation)", lambda g: next(c for c in g if c[1] == 0), None),
          (f"always `{args.default_method}`, round 1",
           lambda g: next((c for c in g if c[0] == args.default_method and c[1] == 1), None), None),
          (f"always `{args.default_method}`, last round", last_round(args.default_method), None),
          (f"oracle: best {args.scored_on} mJac (labels an SFDA user does not have)", lambda g: max(g, key=lambda c: c[3]),
           None)]

def score_rule(groups, rule, crit):
    """Per (shift, seed): the choice; then the regrets, Spearman ρs and collapsed choices."""
    cells, regrets, rhos, collapsed = [], [], [], 0
    for k in sorted(groups):
        g = groups[k]
        c = rule(g)
        if c is None:
            cells.append("–")
            continue
        best = max(x[3] for x in g)
        source = next(x[3] for x in g if x[1] == 0)
        cells.append(f"{name(c)}: {c[3]:.2f}")
        regrets.append(best - c[3])
        collapsed += c[3] < source / 2
        if crit:
            rhos.append(spearman([x[2][crit] for x in g], [x[3] for x in g]))
    return cells, regrets, rhos, collapsed


if args.summary:
    labelled = [r.split("=", 1) for r in args.root]
    if any(len(x) != 2 for x in labelled):
        raise SystemExit("--summary takes LABEL=DIR arguments")
    loaded = [(label, load_groups(d)) for label, d in labelled]
    print("| rule | " + " | ".join(label for label, _ in loaded) + " | mean |")
    print("| --- |" + " --: |" * (len(loaded) + 1))
    for title, rule, crit in rules:
        scored = [score_rule(g, rule, crit) for _, g in loaded]
        means = [np.mean(r[1]) for r in scored]
        print(f"| {title} | " + " | ".join(f"{m:.2f}" + (f" ({r[3]} collapsed)" if r[3] else "")
                                           for m, r in zip(means, scored)) + f" | {np.mean(means):.2f} |")
    raise SystemExit(0)

groups = load_groups(args.root[0])
keys = sorted(groups)
on = args.scored_on
print(f"Choosing a (method, round) per seed among {len(groups[keys[0]])} candidates "
      f"({', '.join(sorted({c[0] for c in groups[keys[0]]}))}); {on} mJac (%) of the choice; regret = best "
      f"candidate's {on} mJac minus the choice's (points); ρ = Spearman correlation of the criterion with {on} mJac "
      f"over the candidates; collapsed = choices below half the source model's {on} mJac.\n")
print("| rule | " + " | ".join(f"shift {s} seed {d}" for s, d in keys) + " | mean regret | mean ρ | collapsed |")
print("| --- |" + " --- |" * len(keys) + " --: | --: | --: |")
for title, rule, crit in rules:
    cells, regrets, rhos, collapsed = score_rule(groups, rule, crit)
    rho = f"{np.nanmean(rhos):+.2f}" if rhos and not all(np.isnan(rhos)) else "–"
    print(f"| {title} | " + " | ".join(cells) + f" | {np.mean(regrets):.2f} | {rho} | {collapsed} |")

# The round alone, within each method: regret against the method's best round (source model included).
methods = sorted({c[0] for g in groups.values() for c in g if c[1] > 0})
print("\nChoosing the round within each method (the source model counts as round 0): mean regret over "
      f"seeds (points), per method.\n")
print("| rule | " + " | ".join(f"`{m}`" for m in methods) + " | mean |")
print("| --- |" + " --: |" * len(methods) + " --: |")
round_rules = [(f"`{c}`", c) for c in CRITERIA] + [("round 0 (source model)", "first"), ("round 1", "one"),
                                                   ("last round", "last")]
for title, rule in round_rules:
    cells, all_regrets = [], []
    for m in methods:
        regrets = []
        for k in keys:
            g = [c for c in groups[k] if c[0] == m or c[1] == 0]
            if len(g) < 2:
                continue
            if rule == "first":
                c = g[0] if g[0][1] == 0 else next(x for x in g if x[1] == 0)
            elif rule == "one":
                c = next((x for x in g if x[1] == 1), None)
            elif rule == "last":
                c = max(g, key=lambda x: x[1])
            else:
                c = by_criterion(rule)(g)
            if c is not None:
                regrets.append(max(x[3] for x in g) - c[3])
        cells.append(f"{np.mean(regrets):.2f}" if regrets else "–")
        all_regrets += regrets
    print(f"| {title} | " + " | ".join(cells) + f" | {np.mean(all_regrets):.2f} |")
