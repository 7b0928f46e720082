#!/usr/bin/env bash
# examples_test.sh SOURCE BUILD MPIEXEC: installs rowshard from BUILD into a
# fresh prefix, builds examples/custom_trainer against it with
# find_package(rowshard CONFIG), and runs it alone and on 2 ranks.
set -euo pipefail
source_dir=$1
build_dir=$2
mpiexec=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake --install "$build_dir" --prefix "$work/prefix" >/dev/null
cmake -S "$source_dir/examples/custom_trainer" -B "$work/build" -G Ninja \
  -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/build" >/dev/null
"$work/build/custom_trainer" "$work/alone"
"$mpiexec" -n 2 --oversubscribe "$work/build/custom_trainer" "$work/two"
echo "2 passed, 0 failed"
