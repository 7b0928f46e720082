#!/usr/bin/env bash
# examples_test.sh SOURCE BUILD MPIEXEC: installs rowshard from BUILD into a
# fresh prefix, builds examples/custom_trainer and examples/snippets (the
# headers' and README's code examples) against it with
# find_package(rowshard CONFIG) and -Wall -Wextra -Werror, as a strict
# user's build would, and runs the trainer alone and on 2 ranks.
set -euo pipefail
source_dir=$1
build_dir=$2
mpiexec=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake --install "$build_dir" --prefix "$work/prefix" >/dev/null
for example in custom_trainer snippets; do
  cmake -S "$source_dir/examples/$example" -B "$work/build-$example" -G Ninja \
    -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$work/prefix" \
    -DCMAKE_CXX_FLAGS="-Wall -Wextra -Werror" >/dev/null
  if ! cmake --build "$work/build-$example" >"$work/build-$example.log" 2>&1; then
    echo "examples/$example does not build against the installed package:"
    cat "$work/build-$example.log"
    exit 1
  fi
done
"$work/build-custom_trainer/custom_trainer" "$work/alone"
"$mpiexec" -n 2 --oversubscribe "$work/build-custom_trainer/custom_trainer" "$work/two"
echo "3 passed, 0 failed"
