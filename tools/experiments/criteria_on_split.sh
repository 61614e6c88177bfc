#!/bin/bash
# The label-free criteria of a benchmark's models recomputed on another target split's images (its
# labels are never read), e.g. held-out frames not adapted on: each run directory is copied with
# hard links (results are replaced by rename, so the originals stay as they are; the log, lock and
# criteria files are unlinked first) and `jcas run --criteria.split SPLIT` recomputes only the
# criteria stages. Then tools/python/label_free_selection_table.py OUT scores the criteria.
#   tools/experiments/criteria_on_split.sh JCAS BENCHMARK_DIR OUT [SPLIT]
# e.g. tools/experiments/criteria_on_split.sh build/jcas work/benchmark sel_val val
set -euo pipefail
[ $# -ge 3 ] || { sed -n 2,8p "$0"; exit 2; }
jcas=$(realpath "$1"); src=$(realpath "$2"); dst=$3; split=${4:-val}
for run in "$src"/shift*/seed*/*/; do
  run=${run%/}; method=$(basename "$run")
  if [ "$method" = base ] || [ "$method" = upper_bound ]; then continue; fi
  out="$dst/${run#"$src"/}"
  if [ ! -d "$out" ]; then
    mkdir -p "$(dirname "$out")"; cp -al "$run" "$out"
    rm -f "$out/jcas.log" "$out/benchmark.log" "$out/.jcas/lock" "$out"/round-*/criteria*.h5
  fi
  "$jcas" run --config "$out/config.ini" --workdir "$out" --criteria.split "$split" -q > /dev/null
  echo "done ${run#"$src"/}"
done
