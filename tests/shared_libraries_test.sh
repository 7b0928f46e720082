#!/usr/bin/env bash
# shared_libraries_test.sh SOURCE BUILD COMPILER [LAUNCHER]: builds the
# libraries alone with -DBUILD_SHARED_LIBS=ON in their own build tree,
# installs them, and checks each is librowshard_<layer>.so.1 (its SONAME)
# with the usual links, that only librowshard_mpi needs MPI, and that users
# link and run against them: the example trainers, single-process (engine +
# io, no MPI loaded) and sharded (rowshard::rowshard).
set -euo pipefail
source_dir=$1
build_dir=$2
compiler=$3
launcher=${4:-}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix
# Without the CUDA backend (ROWSHARD_CUDA=OFF), as on a machine without
# nvcc: compiling its kernels a second time would add minutes to the suite,
# and the static package test links a CUDA build already.
cmake -S "$source_dir" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DBUILD_SHARED_LIBS=ON -DROWSHARD_BUILD_TESTS=OFF -DROWSHARD_CUDA=OFF -DCMAKE_CXX_COMPILER="$compiler" \
  -DCMAKE_CXX_COMPILER_LAUNCHER="$launcher" >/dev/null
cmake --build "$build_dir" --parallel "$(nproc)" \
  --target rowshard_engine rowshard_sharding rowshard_io rowshard_mpi >/dev/null
cmake --install "$build_dir" --prefix "$prefix" >/dev/null
failures=0
fail() {
  echo "FAILED: $*"
  failures=$((failures + 1))
}

lib=$prefix/lib
mpi_pattern='libmpi'
for layer in engine sharding io mpi; do
  name=librowshard_$layer.so
  [[ -f "$lib/$name.1.0.0" ]] || fail "no $name.1.0.0 installed"
  [[ $(readlink "$lib/$name.1") == "$name.1.0.0" ]] || fail "$name.1 is not a link to $name.1.0.0"
  [[ $(readlink "$lib/$name") == "$name.1" ]] || fail "$name is not a link to $name.1"
  soname=$(readelf -d "$lib/$name.1.0.0" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
  [[ $soname == "$name.1" ]] || fail "$name.1.0.0 has SONAME '$soname', not $name.1"
  ldd "$lib/$name.1" >"$work/$name.ldd" 2>&1 || true
  if grep "not found" "$work/$name.ldd"; then
    fail "$name does not find its libraries (above)"
  fi
  if [[ $layer != mpi ]] && grep "$mpi_pattern" "$work/$name.ldd"; then
    fail "$name loads MPI (above)"
  fi
done

build_user() {
  cmake -S "$1" -B "$work/$2" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_CXX_FLAGS="-Wall -Wextra -Werror" \
    >"$work/$2.log" 2>&1 && cmake --build "$work/$2" >>"$work/$2.log" 2>&1
}
if ! build_user "$source_dir/examples/trainers" trainers; then
  fail "examples/trainers does not build against the shared libraries:"
  cat "$work/trainers.log"
else
  ldd "$work/trainers/single_process_trainer" >"$work/single_process.ldd"
  grep -q "librowshard_engine.so.1 => $lib/" "$work/single_process.ldd" ||
    fail "the single-process trainer does not load $lib/librowshard_engine.so.1"
  if grep "$mpi_pattern" "$work/single_process.ldd"; then
    fail "the single-process trainer loads MPI (above)"
  fi
  "$work/trainers/single_process_trainer" "$work/ckpt" >/dev/null ||
    fail "the single-process trainer fails on the shared libraries"
  "$work/trainers/sharded_trainer" "$work/sharded" >/dev/null ||
    fail "the sharded trainer fails on the shared libraries"
fi

echo "$failures failed"
[[ $failures -eq 0 ]]
