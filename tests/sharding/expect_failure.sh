#!/usr/bin/env bash
# expect_failure.sh PATTERN COMMAND...: passes when COMMAND exits non-zero
# within 60 seconds and its output matches the extended regex PATTERN.
set -u
pattern=$1
shift
output=$(timeout 60 "$@" 2>&1)
status=$?
if [[ $status -eq 0 ]]; then
  echo "expected a failure, got exit status 0:"; echo "$output"; exit 1
fi
if [[ $status -eq 124 ]]; then
  echo "the job hung (killed after 60 s):"; echo "$output"; exit 1
fi
if ! grep -Eq -- "$pattern" <<<"$output"; then
  echo "exit status $status, but the output does not match '$pattern':"; echo "$output"; exit 1
fi
echo "failed as expected (exit status $status)"
