#!/usr/bin/env bash
# run_fuzzer.sh SOURCE_DIR BUILD_DIR SECONDS: builds the parsers' libFuzzer
# target with clang (AddressSanitizer and UBSan on) and fuzzes it for
# SECONDS, starting from the committed seed corpus. Fails on any crash.
set -euo pipefail
source_dir=$1
build_dir=$2
seconds=$3
mkdir -p "$build_dir"
binary="$build_dir/parsers_fuzzer"
sources=(
  tests/fuzz/parsers_fuzzer.cpp
  engine/error.cpp
  io/checksum.cpp
  io/checkpoint/shard_file.cpp
  io/checkpoint/manifest.cpp
  io/npy/npy_format.cpp
  io/safetensors/safetensors_format.cpp
)
newest_source=$(cd "$source_dir" && ls -t "${sources[@]}" io/checkpoint/*.h io/include/rowshard/io/npy/*.h io/include/rowshard/io/safetensors/*.h | head -1)
if [[ ! -x $binary || "$source_dir/$newest_source" -nt $binary ]]; then
  (cd "$source_dir" && clang++ -std=c++20 -O1 -g -I. -Iengine/include -Iio/include \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    "${sources[@]}" -lxxhash -o "$binary")
fi
# Work on a copy: libFuzzer adds what it finds to the corpus directory.
corpus=$(mktemp -d)
trap 'rm -rf "$corpus"' EXIT
cp "$source_dir"/tests/fuzz/corpus/* "$corpus"/
"$binary" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
  "$corpus" 2>&1 | tail -n 12
