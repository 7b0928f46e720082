#!/usr/bin/env bash
# run_io_tests_under_asan.sh SOURCE_DIR BUILD_DIR: builds the io tests with
# AddressSanitizer and UBSan in their own build tree and runs the ones that
# feed damaged files to the readers, so an out-of-bounds read through a
# mapping fails the suite instead of passing by luck.
set -euo pipefail
source_dir=$1
build_dir=$2
# The readers under test are host code: the CUDA backend is left out of
# this build (ROWSHARD_CUDA=OFF), as it is from a machine without nvcc.
cmake -S "$source_dir" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DROWSHARD_CUDA=OFF \
-DCMAKE_CXX_FLAGS="-fsanitize=address,undefined -fno-sanitize-recover=undefined" \
  >/dev/null
cmake --build "$build_dir" --target io_tests --parallel "$(nproc)" >/dev/null
# The suite runs the plain io_tests at the same time, and both name their
# scratch directories after the test: this run gets its own temp root.
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
TMPDIR=$scratch ASAN_OPTIONS=detect_leaks=1 "$build_dir/tests/io/io_tests" \
  --gtest_filter='Corruption*:Checkpoints*:Npy*:Safetensors*:Pretrained*' --gtest_brief=1
