#!/usr/bin/env bash
# package_test.sh SOURCE BUILD: installs rowshard from BUILD into a fresh
# prefix and checks the package as a user meets it:
#   - the include directory holds exactly the public headers (each layer's
#     include/ and the generated version.h), and each compiles alone with
#     only the prefix on the include path, under -Wall -Wextra -Werror;
#   - a single-process user of rowshard::engine and rowshard::io (a
#     checkpoint save) configures with find_package(MPI) disabled, has no
#     MPI on its link line or among its libraries, and runs;
#   - without MPI, find_package(rowshard 1.0 CONFIG) still gives the
#     MPI-free targets, and COMPONENTS mpi fails, saying why.
set -euo pipefail
source_dir=$1
build_dir=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix
cmake --install "$build_dir" --prefix "$prefix" >/dev/null
failures=0
fail() {
  echo "FAILED: $*"
  failures=$((failures + 1))
}

# Only public headers are installed.
(cd "$source_dir" && find engine/include sharding/include io/include -name '*.h' |
   sed 's|^[a-z]*/include/||'; echo rowshard/engine/version.h) | sort >"$work/public"
(cd "$prefix/include" && find . -type f | sed 's|^\./||') | sort >"$work/installed"
if ! diff "$work/public" "$work/installed" >"$work/headers.diff"; then
  fail "installed headers differ from the public ones (< public only, > installed only):"
  cat "$work/headers.diff"
fi

# Each installed header compiles on its own.
compile_alone() {
  echo "#include <$2>" | c++ -std=c++20 -fsyntax-only -Wall -Wextra -Werror \
    -I "$1" -x c++ - 2>&1 || echo "($2 does not compile on its own)"
}
export -f compile_alone
(cd "$prefix/include" && find . -name '*.h' | sed 's|^\./||' | sort) |
  xargs -P "$(nproc)" -I{} bash -c 'compile_alone "$0" {}' "$prefix/include" >"$work/alone.log"
if [[ -s "$work/alone.log" ]]; then
  fail "installed headers that do not compile on their own:"
  cat "$work/alone.log"
fi

# A single-process user needs no MPI: the example trainers without it build
# the single-process trainer and the server, and not the sharded trainer.
consumer=$work/trainers
if ! cmake -S "$source_dir/examples/trainers" -B "$consumer" -G Ninja \
     -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$prefix" \
     -DCMAKE_DISABLE_FIND_PACKAGE_MPI=ON >"$work/consumer.log" 2>&1 ||
   ! cmake --build "$consumer" --verbose >>"$work/consumer.log" 2>&1; then
  fail "rowshard::engine + rowshard::io do not build without MPI:"
  cat "$work/consumer.log"
else
  mpi_pattern='libmpi|-lmpi|openmpi|mpich'
  for program in single_process_trainer serve_from_checkpoint; do
    if grep -- "-o $program " "$work/consumer.log" | grep -E "$mpi_pattern"; then
      fail "MPI is on the link line of $program, a rowshard::engine + rowshard::io user (above)"
    fi
    if ldd "$consumer/$program" | grep -E "$mpi_pattern"; then
      fail "$program, a rowshard::engine + rowshard::io user, loads MPI (above)"
    fi
  done
  [[ -e "$consumer/sharded_trainer" ]] && fail "the sharded trainer was built without MPI"
  "$consumer/single_process_trainer" "$work/ckpt" >"$work/trained.log" ||
    fail "the single-process trainer failed: $(cat "$work/trained.log")"
  [[ -f "$work/ckpt/ckpt-000300/MANIFEST.json" ]] ||
    fail "the single-process checkpoint has no manifest"
fi

# Without MPI: the MPI-free targets, and a clear refusal of COMPONENTS mpi.
find_rowshard() {
  mkdir -p "$work/find-$1"
  printf '%s\n' "cmake_minimum_required(VERSION 3.25)" "project(find_rowshard LANGUAGES CXX)" \
    "find_package(rowshard 1.0 CONFIG REQUIRED $2)" "$3" >"$work/find-$1/CMakeLists.txt"
  cmake -S "$work/find-$1" -B "$work/find-$1/build" -DCMAKE_PREFIX_PATH="$prefix" \
    -DCMAKE_DISABLE_FIND_PACKAGE_MPI=ON >"$work/find-$1.log" 2>&1
}
if ! find_rowshard all "" 'foreach(t engine sharding io)
  if(NOT TARGET rowshard::${t})
    message(FATAL_ERROR "no rowshard::${t}")
  endif()
endforeach()
if(TARGET rowshard::mpi OR TARGET rowshard::rowshard)
  message(FATAL_ERROR "MPI targets without MPI")
endif()'; then
  fail "find_package(rowshard 1.0 CONFIG) without MPI:"
  cat "$work/find-all.log"
fi
if find_rowshard mpi "COMPONENTS mpi" ""; then
  fail "find_package(rowshard 1.0 CONFIG REQUIRED COMPONENTS mpi) succeeded without MPI"
elif ! grep -q "component 'mpi' needs MPI" "$work/find-mpi.log"; then
  fail "find_package(... COMPONENTS mpi) without MPI does not say why it failed:"
  cat "$work/find-mpi.log"
fi

echo "$failures failed"
[[ $failures -eq 0 ]]
