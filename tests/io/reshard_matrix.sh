#!/usr/bin/env bash
# reshard_matrix.sh JOB MPIEXEC: saves a checkpoint at 1, 2, 3 and 4 ranks
# and restores each at 1, 2, 3 and 4 ranks, checking the bits every time.
set -euo pipefail
job=$1
mpiexec=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for saved in 1 2 3 4; do
  "$mpiexec" -n "$saved" --oversubscribe "$job" save "$work/w$saved"
  for restored in 1 2 3 4; do
    "$mpiexec" -n "$restored" --oversubscribe "$job" verify "$work/w$saved"
    echo "saved at $saved ranks, restored at $restored: identical"
  done
done
