#!/bin/bash
# JCAS's retraining defaults (affinity weight and grid) re-derived without target labels: the
# settings of RESULTS' val sweep ("What moves JCAS"), each adapting seed 0's synthetic source model
# (quickstart configuration, 4 epochs of which 1 warm-up, one thread, two runs at once) at shifts 1
# and 1.5, their label-free criteria recorded on the train images, their models scored on the val
# labels (the test split is not read). Then which setting each criterion would choose:
#   tools/experiments/label_free_defaults.sh JCAS OUT
#   /usr/bin/python3 tools/python/label_free_selection_table.py OUT/sweep --scored-on val --default-method w0.1_g32x32
set -euo pipefail
[ $# -eq 2 ] || { sed -n 2,8p "$0"; exit 2; }
jcas=$(realpath "$1"); out=$2
config=$(realpath "$(dirname "$0")/../../configs/quickstart.ini")
declare -A settings=(
  [w1_g16x20]="--retrain.affinity_weight 1 --retrain.affinity_grid 16x20"
  [w0.3_g16x20]="--retrain.affinity_weight 0.3 --retrain.affinity_grid 16x20"
  [w0.1_g16x20]="--retrain.affinity_weight 0.1 --retrain.affinity_grid 16x20"
  [w0_g16x20]="--retrain.affinity_weight 0 --retrain.affinity_grid 16x20"
  [w1_g32x32]="--retrain.affinity_weight 1 --retrain.affinity_grid 32x32"
  [w0.1_g32x32]="--retrain.affinity_weight 0.1 --retrain.affinity_grid 32x32"
  [w0.1_g32x40]="--retrain.affinity_weight 0.1 --retrain.affinity_grid 32x40"
)
run() {  # shift name options...: one setting, from a hard-linked copy of the shift's first run
  local shift=$1 name=$2; shift 2
  local dir="$out/sweep/shift$shift/seed0/$name" first="$out/sweep/shift$shift/seed0/w0.1_g32x32"
  if [ ! -d "$dir" ] && [ -d "$first" ]; then
    mkdir -p "$(dirname "$dir")"; cp -al "$first" "$dir"; rm -f "$dir/jcas.log" "$dir/.jcas/lock"
  fi
  "$jcas" run --config "$config" --workdir "$dir" --seed 0 --synth.shift "$shift" --threads 1 \
      --retrain.epochs 4 --retrain.warmup_epochs 1 --data.test_split val "$@" -q > "$dir.log" 2>&1
  echo "done shift $shift $name"
}
for shift in 1 1.5; do
  mkdir -p "$out/sweep/shift$shift/seed0"
  run "$shift" w0.1_g32x32 ${settings[w0.1_g32x32]} &  # the default first: data and source model for the others
done
wait
for name in "${!settings[@]}"; do
  [ "$name" = w0.1_g32x32 ] && continue
  run 1 "$name" ${settings[$name]} &
  run 1.5 "$name" ${settings[$name]}
  wait
done
