#!/usr/bin/env bash
# The main job on its default config: install what is missing, build, and
# train configs/default.yaml on 2 ranks. Extra arguments go to rowshard-train
# (e.g. --set steps=500, or --resume latest).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/build.sh
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mpirun -np 2 --oversubscribe ./build/training/rowshard-train --config configs/default.yaml "$@"
