#!/bin/bash
# The bring-your-own-model walkthrough's method chosen without target labels (README "Bring your
# own model", RESULTS "Label-free selection"): the walkthrough's source model (LR-ASPP
# MobileNetV3-Large trained in PyTorch on the synthetic source) adapted by every candidate method
# over two rounds and two seeds, each model's label-free criteria recorded on the train images it
# adapted on (their labels removed), the same models scored on the val labels (the oracle an SFDA
# user does not have) and on test (the check).
#   tools/experiments/byom_label_free_choice.sh JCAS OUT
# then: /usr/bin/python3 tools/python/label_free_selection_table.py OUT/bench/benchmark   (test scores)
#       /usr/bin/python3 tools/python/label_free_selection_table.py OUT/bench_val --scored-on val
set -euo pipefail
[ $# -eq 2 ] || { sed -n 2,11p "$0"; exit 2; }
jcas=$(realpath "$1"); out=$2
here=$(dirname "$(realpath "$0")")
mkdir -p "$out"
[ -d "$out/data" ] || "$jcas" synth --out "$out/data"
[ -f "$out/lraspp.pt" ] || /usr/bin/python3 "$here/../python/train_source.py" --arch lraspp_mobilenet_v3_large \
    --data "$out/data/source" --out "$out/lraspp.pt" --epochs 15 --threads 2 --precise-bn
if [ ! -d "$out/target" ]; then
  cp -r "$out/data/target" "$out/target.tmp"
  for n in $(grep -v '^#' "$out/target.tmp/train.txt"); do rm "$out/target.tmp/label/$n.png"; done
  mv "$out/target.tmp" "$out/target"
fi
"$jcas" benchmark --workdir "$out/bench" --data.target "$out/target" --source.torchscript "$out/lraspp.pt" \
    --shifts 1 --seeds 2 --jobs 2 --threads 1 --transductive false --out "$out/bench.md" \
    --methods source,adabn,tent,ce,ce_prior,cbst,dpl,volmin,volmin_anchor,jcas
"$here/rerun_benchmark_with.sh" "$jcas" "$out/bench/benchmark" "$out/bench_val" --data.test_split val
