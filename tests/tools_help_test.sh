#!/usr/bin/env bash
# tools_help_test.sh TOOL...: every tool answers --help with its usage on
# stdout and exit status 0.
set -uo pipefail
failed=0
for tool in "$@"; do
  output=$("$tool" --help 2>/dev/null)
  status=$?
  if [[ $status -ne 0 ]]; then
    echo "FAIL: $(basename "$tool") --help exits $status"; failed=1
  elif ! grep -qi "usage" <<<"$output"; then
    echo "FAIL: $(basename "$tool") --help prints no usage on stdout"; failed=1
  else
    echo "ok: $(basename "$tool") --help"
  fi
done
exit $failed
