#!/usr/bin/env bash
# The main job on its default config: install what is missing, build, and
# train configs/default.yaml on 2 ranks. Extra arguments go to rowshard-train
# (e.g. --set steps=500).
#
# Each run trains from scratch into a fresh checkpoints/default/run-<UTC
# date-time>, so running it again never meets an earlier run's checkpoints.
# `--resume latest` alone continues the newest of those runs; given a
# checkpoint directory of the caller's own (--set checkpoint.dir=...), or
# --resume DIR, it passes the arguments on unchanged:
#   bash scripts/run.sh --set checkpoint.dir=checkpoints/default/run-... --resume latest
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/build.sh
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
arguments=("$@")
if [[ " $* " != *" --resume"* && "$*" != *checkpoint.dir=* && "$*" != *checkpoint=* ]]; then
  run_dir=checkpoints/default/run-$(date -u +%Y%m%d-%H%M%S)
  [[ -e $run_dir ]] && run_dir+="-$$"  # a second run within the same second
  arguments+=(--set "checkpoint.dir=$run_dir")
  echo "checkpoints of this run: $run_dir" \
       "(continue it: bash scripts/run.sh --set checkpoint.dir=$run_dir --resume latest)"
elif [[ " $* " == *" --resume latest "* && "$*" != *checkpoint.dir=* && "$*" != *checkpoint=* ]]; then
  newest=$(find checkpoints/default -maxdepth 1 -name 'run-*' -type d 2>/dev/null | sort | tail -n 1)
  if [[ -n $newest ]]; then
    arguments+=(--set "checkpoint.dir=$newest")
    echo "continuing the newest run: $newest"
  fi
fi
mpirun -np 2 --oversubscribe ./build/training/rowshard-train --config configs/default.yaml \
  "${arguments[@]}"
