#!/usr/bin/env bash
# tsv_job_test.sh TRAIN MPIEXEC: the training job on tab-separated data.
#  1. relative data paths name files beside the config, whatever the
#     working directory (the job runs from elsewhere);
#  2. the held-out set is the same examples at 1, 2 and 3 ranks;
#  3. a malformed line is warned about once over several epochs and counted
#     once in the summary, whatever the rank count;
#  4. no held-out example (no eval_files, or an empty file) reports null
#     metrics and says why; one class only reports a null AUC and says why.
set -euo pipefail
train=$1
mpiexec=$2
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

mkdir -p "$work/job/data" "$work/elsewhere"
cp "$here/tsv_job.yaml" "$work/job/job.yaml"
# Lines of LABEL, two real dense values, two categorical values; line 4 of
# train.tsv and line 3 of eval.tsv are malformed (a dense value '1.5x').
python3 - "$work/job/data" <<'PY'
import sys
folder = sys.argv[1]
def line(i):
    return f"{(i * 7) % 3 % 2}\t{(i % 5) * 0.75 - 1:.2f}\t{i * 0.1:.1f}\tu{i % 9}\ti{i % 4}"
def write(name, lines):
    with open(f"{folder}/{name}", "w") as out:
        out.write("".join(l + "\n" for l in lines))
train = [line(i) for i in range(40)]
train[3] = "1\t1.5x\t2\tu1\ti1"
held_out = [line(i) for i in range(100, 130)]
held_out[2] = "0\t1.5x\t2\tu1\ti1"
write("train.tsv", train)
write("eval.tsv", held_out)
write("no_clicks.tsv", ["0" + l[1:] for l in held_out if "1.5x" not in l])
write("empty.tsv", [])
PY

run() {  # run RANKS [ARGS...]: the job's whole output (stdout, stderr)
  local ranks=$1
  shift
  (cd "$work/elsewhere" &&
   "$mpiexec" -n "$ranks" --oversubscribe "$train" --config ../job/job.yaml "$@" 2>&1)
}
summary() { tail -n 1 <<<"$1"; }
metric() { python3 -c "import json,sys; print(json.loads(sys.argv[1])['$2'])" "$(summary "$1")"; }
expect() {  # expect ACTUAL EXPECTED WHAT
  [[ "$1" == "$2" ]] || { echo "FAIL: $3: $1, expected $2"; exit 1; }
}
expect_line() {  # expect_line OUTPUT LINE: OUTPUT has LINE as a whole line
  grep -qxF -- "$2" <<<"$1" || { echo "FAIL: no line '$2' in:"; echo "$1"; exit 1; }
}

# 1 and 2: untrained (steps=0), the metrics depend on the held-out set alone.
untrained=()
for ranks in 1 2 3; do
  untrained+=("$(summary "$(run $ranks --set steps=0)")")
  echo "$ranks rank(s), 0 steps: ${untrained[-1]}"
done
for i in 1 2; do
  for key in eval_auc eval_logloss; do
    expect "$(metric "${untrained[$i]}" $key)" "$(metric "${untrained[0]}" $key)" \
      "$key at $((i + 1)) ranks against 1 rank"
  done
done
echo "relative paths beside the config; the same held-out set at 1, 2 and 3 ranks"

# 3: 20 steps of 6 are three epochs of the 39 valid training lines.
for ranks in 1 2; do
  output=$(run $ranks)
  echo "$ranks rank(s), 20 steps: $(summary "$output")"
  expect "$(metric "$output" malformed_lines_skipped)" 2 "malformed_lines_skipped at $ranks ranks"
  expect "$(grep -c 'line skipped$' <<<"$output")" 2 "warnings at $ranks ranks"
  expect_line "$output" "warning: file '../job/data/train.tsv', line 4: column 1 '1.5x' is not a number; line skipped"
  expect_line "$output" "warning: file '../job/data/eval.tsv', line 3: column 1 '1.5x' is not a number; line skipped"
done
echo "each malformed line warned about once and counted once"

# 4: missing or one-sided evaluations are reported as such, not as figures.
output=$(run 2 --set 'data.tsv.eval_files=[]')
expect "$(metric "$output" eval_auc)" None "eval_auc without eval_files"
expect "$(metric "$output" eval_logloss)" None "eval_logloss without eval_files"
expect_line "$output" "no evaluation: data.tsv.eval_files is empty"
output=$(run 2 --set 'data.tsv.eval_files=[data/empty.tsv]')
expect "$(metric "$output" eval_logloss)" None "eval_logloss on an empty file"
expect_line "$output" "no evaluation: data.tsv.eval_files '../job/data/empty.tsv' hold no valid line (0 malformed)"
output=$(run 2 --set 'data.tsv.eval_files=[data/no_clicks.tsv]' --set eval_every=5)
expect "$(metric "$output" eval_auc)" None "eval_auc with no clicks held out"
python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) > 0 else 1)" "$(metric "$output" eval_logloss)" \
  || { echo "FAIL: eval_logloss with no clicks held out: $(metric "$output" eval_logloss)"; exit 1; }
expect_line "$output" "eval AUC undefined: all 12 held-out examples are non-clicks"
grep -q "eval at step 5: auc undefined  logloss " <<<"$output" \
  || { echo "FAIL: no undefined AUC at step 5 in:"; echo "$output"; exit 1; }
echo "missing evaluations are null, with the reason"
echo "4 passed, 0 failed"
