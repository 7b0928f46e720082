#!/usr/bin/env bash
# The main job on its default settings: install what is missing, build, run.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/build.sh
./build/examples/train_embedding_bag "$@"
