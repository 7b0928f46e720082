#!/usr/bin/env bash
# threads_job_test.sh TRAIN MPIEXEC: the job's results do not depend on
# `threads`. At 1 and at 2 ranks, threads = 1, 2 and 3 end with the same
# summary metrics (training and held-out loss, AUC) and final checkpoints of
# the same bytes (tables, dense model, optimizer state), bit for bit.
set -euo pipefail
train=$1
mpiexec=$2
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The summary without its timings, and the final checkpoint's checksums.
results() {  # results RANKS THREADS
  local dir="$work/n$1-t$2"
  sed "s|CHECKPOINT_DIR|$dir|" "$here/small_job.yaml" > "$dir.yaml"
  "$mpiexec" -n "$1" --oversubscribe "$train" --config "$dir.yaml" --set threads="$2" \
    --set steps=60 --set checkpoint.every=0 | tail -n 1 \
    | python3 -c "import json,sys; s=json.load(sys.stdin); [s.pop(k) for k in ('examples_per_s','seconds')]; print(json.dumps(s, sort_keys=True))"
  "$here/checkpoint_digest.py" "$dir/ckpt-000060/MANIFEST.json"
}

for ranks in 1 2; do
  one=$(results "$ranks" 1)
  echo "$ranks rank(s), 1 thread: $one"
  for threads in 2 3; do
    other=$(results "$ranks" "$threads")
    [[ "$other" == "$one" ]] || {
      echo "FAIL: $ranks rank(s), $threads threads: $other"
      exit 1
    }
  done
  echo "$ranks rank(s): the same bits with 1, 2 and 3 threads"
done
