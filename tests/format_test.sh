#!/usr/bin/env bash
# format_test.sh SOURCE: every C++ file in the repository is formatted as
# .clang-format says (clang-format --dry-run lists any that is not).
set -euo pipefail
cd "$1"
git ls-files '*.h' '*.cpp' '*.cu' '*.cuh' | xargs clang-format --dry-run --Werror
echo "formatted"
