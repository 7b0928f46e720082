#!/usr/bin/env bash
# ckpt_import_refusals.sh CKPT_TOOL FIXTURE.npy: rowshard-ckpt import refuses
# a --step that is not a step (negative, not a number) and a step whose
# checkpoint exists, naming the value or the directory, and writes nothing.
set -euo pipefail
ckpt=$1
table=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

expect_refusal() {  # expect_refusal TEXT ARGS...: non-zero exit, TEXT in stderr
  local text=$1 status=0
  shift
  "$ckpt" import "$table" --table t --root "$work/root" "$@" > /dev/null 2> "$work/err" || status=$?
  [[ $status -ne 0 ]] || fail "import $* was accepted"
  grep -qF -- "$text" "$work/err" || fail "import $*: no '$text' in: $(cat "$work/err")"
}

for step in -3 3x ""; do
  expect_refusal "--step '$step' is not a step: a whole number from 0 to" --step "$step"
done
[[ ! -e "$work/root" ]] || fail "a refused import wrote into ROOT: $(ls -a "$work/root")"
echo "negative and non-numeric steps refused, nothing written"

"$ckpt" import "$table" --table t --root "$work/root" --step 3 > /dev/null
before=$(cd "$work/root" && find . -printf '%p %s %T@\n' | sort)
expect_refusal "'$work/root/ckpt-000003' already exists" --step 3
[[ "$(cd "$work/root" && find . -printf '%p %s %T@\n' | sort)" == "$before" ]] \
  || fail "a refused import changed ROOT"
echo "importing a step that exists refused, nothing changed"
