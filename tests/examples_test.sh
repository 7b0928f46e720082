#!/usr/bin/env bash
# examples_test.sh SOURCE BUILD MPIEXEC: installs rowshard from BUILD into a
# fresh prefix, builds examples/trainers and examples/snippets (the headers'
# and README's code examples) against it with find_package(rowshard 1.0
# CONFIG) and -Wall -Wextra -Werror, as a strict user's build would, then
# runs the trainers: single-process, sharded on 2 ranks, and the server
# restoring the sharded checkpoint into one process, which must score the
# probe pairs to the bit as the sharded trainer did.
set -euo pipefail
source_dir=$1
build_dir=$2
mpiexec=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake --install "$build_dir" --prefix "$work/prefix" >/dev/null
for example in trainers snippets; do
  cmake -S "$source_dir/examples/$example" -B "$work/build-$example" -G Ninja \
    -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$work/prefix" \
    -DCMAKE_CXX_FLAGS="-Wall -Wextra -Werror" >/dev/null
  if ! cmake --build "$work/build-$example" >"$work/build-$example.log" 2>&1; then
    echo "examples/$example does not build against the installed package:"
    cat "$work/build-$example.log"
    exit 1
  fi
done
trainers=$work/build-trainers
"$trainers/single_process_trainer" "$work/one"
"$mpiexec" -n 2 --oversubscribe "$trainers/sharded_trainer" "$work/two" | tee "$work/sharded.log"
"$trainers/serve_from_checkpoint" "$work/two/ckpt-000300" | tee "$work/served.log"
if ! diff <(grep '^probe' "$work/sharded.log") <(grep '^probe' "$work/served.log"); then
  echo "the served scores differ from the sharded trainer's (above)"
  exit 1
fi
[[ $(grep -c '^probe' "$work/served.log") -eq 6 ]] || { echo "the probe was not scored"; exit 1; }
echo "4 passed, 0 failed"
