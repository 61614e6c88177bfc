#!/bin/bash
# The retraining recipe of configs/polyp.ini, chosen on the target's val split with one budget for
# every method: each retraining method gets the same 4 configurations (AdaBN on/off x 2 or 6 epochs
# per round), one round, seed 0's source model; the val labels score, the test split is not read.
# Writes OUT/results.tsv and prints the Markdown table docs/RESULTS.md shows (best per method in bold).
#   tools/experiments/polyp_val_sweep.sh JCAS CLINICDB SOURCE_MODEL OUT
# e.g. tools/experiments/polyp_val_sweep.sh build/jcas data/clinicdb models/source_s0.pt sweep
# A configuration already in OUT is kept (delete its .done file to re-run it).
set -euo pipefail
[ $# -eq 4 ] || { sed -n 2,8p "$0"; exit 2; }
jcas=$(realpath "$1"); target=$(realpath "$2"); model=$(realpath "$3"); out=$4
config=$(realpath "$(dirname "$0")/../../configs/polyp.ini")
mkdir -p "$out"; cd "$out"
common=(--config "$config" --data.target "$target" --source.torchscript "$model" --seed 0
        --data.test_split val --rounds 1)
[ -f results.tsv ] || echo -e "method\tadabn\tepochs\tval_mdice\tval_mjac\twall_s" > results.tsv
for epochs in 2 6; do
  for adabn in false true; do
    for method in ce volmin jcas cbst dpl ce_prior; do
      name=${method}_adabn_${adabn}_e${epochs}
      [ -f "$name.done" ] && continue
      rm -rf "$name"
      # the data and source stages are shared: copy them from an earlier run with the same AdaBN
      base=base_adabn_$adabn
      [ -d "$base" ] && cp -r "$base" "$name"
      t0=$(date +%s)
      "$jcas" run --workdir "$name" "${common[@]}" --pseudo_label.adabn "$adabn" --retrain.method "$method" \
          --retrain.epochs "$epochs" > "$name.log" 2>&1
      t1=$(date +%s)
      [ -d "$base" ] || { cp -r "$name" "$base"; rm -rf "$base"/round-0/retrain* "$base"/round-0/evaluate.*; }
      scores=$(grep -o 'done evaluate\[0\].*' "$name.log" | sed -E 's/.*test_mdice=([0-9.]+) test_mjac=([0-9.]+).*/\1\t\2/')
      echo -e "$method\t$adabn\t$epochs\t$scores\t$((t1 - t0))" >> results.tsv
      touch "$name.done"
    done
  done
done
source_dice=$(cat ./*.log | grep -o 'done evaluate_source.*test_mdice=[0-9.]*' | head -1 || true)
python3 - "$source_dice" <<'PY'
import csv, sys
rows = list(csv.DictReader(open("results.tsv"), delimiter="\t"))
configs = [("false", "2"), ("true", "2"), ("false", "6"), ("true", "6")]
methods = list(dict.fromkeys(r["method"] for r in rows))
score = {(r["method"], r["adabn"], r["epochs"]): float(r["val_mdice"]) for r in rows}
print("source model val mDice: " + sys.argv[1].rsplit("=", 1)[-1] + "\n")
print("| method | " + " | ".join(f"AdaBN {'on' if a == 'true' else 'off'}, {e} epochs" for a, e in configs) + " |")
print("| --- |" + " --: |" * len(configs))
for m in methods:
    best = max(score.get((m, a, e), float("-inf")) for a, e in configs)
    cells = []
    for a, e in configs:
        v = score.get((m, a, e))
        cells.append("–" if v is None else (f"**{v:.4f}**" if v == best else f"{v:.4f}"))
    print(f"| {m} | " + " | ".join(cells) + " |")
PY
