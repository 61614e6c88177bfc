#!/bin/bash
# A benchmark's models re-read with other options, from the cache: each run directory is copied
# with hard links (results are replaced by rename, so the originals stay as they are; the log and
# lock are unlinked first) and `jcas run OPTIONS` recomputes only what they change:
#   --criteria.split val    the label-free criteria on the val split's images (labels unread)
#   --data.test_split val   the models scored on the val labels instead of test
# Then tools/python/label_free_selection_table.py OUT scores the criteria.
#   tools/experiments/rerun_benchmark_with.sh JCAS BENCHMARK_DIR OUT OPTION...
# e.g. tools/experiments/rerun_benchmark_with.sh build/jcas work/benchmark sel_val --criteria.split val
set -euo pipefail
[ $# -ge 4 ] || { sed -n 2,10p "$0"; exit 2; }
jcas=$(realpath "$1"); src=$(realpath "$2"); dst=$3; shift 3
for run in "$src"/shift*/seed*/*/; do
  run=${run%/}; method=$(basename "$run")
  if [ "$method" = base ] || [ "$method" = upper_bound ]; then continue; fi
  out="$dst/${run#"$src"/}"
  if [ ! -d "$out" ]; then
    mkdir -p "$(dirname "$out")"; cp -al "$run" "$out"
    rm -f "$out/jcas.log" "$out/benchmark.log" "$out/.jcas/lock"
  fi
  "$jcas" run --config "$out/config.ini" --workdir "$out" "$@" -q > /dev/null
  echo "done ${run#"$src"/}"
done
