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

run() {  # run RANKS [ARGS...]: the job, from another folder; its stdout in $out, stderr in $err
  local ranks=$1
  shift
  (cd "$work/elsewhere" &&
   "$mpiexec" -n "$ranks" --oversubscribe "$train" --config ../job/job.yaml "$@" \
     >"$work/out" 2>"$work/err") \
    || { echo "FAIL: the job failed:"; cat "$work/out" "$work/err"; exit 1; }
  out=$(cat "$work/out")
  err=$(cat "$work/err")
}
summary() { tail -n 1 <<<"$out"; }
metric() { python3 -c "import json,sys; print(json.loads(sys.argv[1])['$1'])" "$(summary)"; }
expect() {  # expect ACTUAL EXPECTED WHAT
  [[ "$1" == "$2" ]] || { echo "FAIL: $3: $1, expected $2"; echo "$out"; echo "$err"; exit 1; }
}
expect_line() {  # expect_line OUTPUT LINE: OUTPUT has LINE as a whole line
  grep -qxF -- "$2" <<<"$1" || { echo "FAIL: no line '$2' in:"; echo "$1"; exit 1; }
}

# 1 and 2: untrained (steps=0), the metrics depend on the held-out set alone.
run 1 --set steps=0
echo "1 rank, 0 steps: $(summary)"
one_rank_auc=$(metric eval_auc)
one_rank_logloss=$(metric eval_logloss)
for ranks in 2 3; do
  run $ranks --set steps=0
  echo "$ranks ranks, 0 steps: $(summary)"
  expect "$(metric eval_auc)" "$one_rank_auc" "eval_auc at $ranks ranks against 1 rank"
  expect "$(metric eval_logloss)" "$one_rank_logloss" "eval_logloss at $ranks ranks against 1 rank"
done
echo "relative paths beside the config; the same held-out set at 1, 2 and 3 ranks"

# 3: 20 steps of 6 are three epochs of the 39 valid training lines.
for ranks in 1 2; do
  run $ranks
  echo "$ranks rank(s), 20 steps: $(summary)"
  expect "$(metric malformed_lines_skipped)" 2 "malformed_lines_skipped at $ranks ranks"
  expect "$(grep -c 'line skipped$' <<<"$err")" 2 "warnings at $ranks ranks"
  for where in "train.tsv', line 4" "eval.tsv', line 3"; do
    expect_line "$err" \
      "warning: file '../job/data/$where: column 1 '1.5x' is not a number; line skipped"
  done
done
echo "each malformed line warned about once and counted once"

# 4: missing or one-sided evaluations are reported as such, not as figures.
run 2 --set 'data.tsv.eval_files=[]'
expect "$(metric eval_auc)" None "eval_auc without eval_files"
expect "$(metric eval_logloss)" None "eval_logloss without eval_files"
expect_line "$out" "no evaluation: data.tsv.eval_files is empty"
run 2 --set 'data.tsv.eval_files=[data/empty.tsv]'
expect "$(metric eval_logloss)" None "eval_logloss on an empty file"
expect_line "$out" \
  "no evaluation: data.tsv.eval_files '../job/data/empty.tsv' hold no valid line (0 malformed)"
run 2 --set 'data.tsv.eval_files=[data/no_clicks.tsv]' --set eval_every=5
expect "$(metric eval_auc)" None "eval_auc with no clicks held out"
python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) > 0 else 1)" "$(metric eval_logloss)" \
  || { echo "FAIL: eval_logloss with no clicks held out: $(metric eval_logloss)"; exit 1; }
expect_line "$out" "eval AUC undefined: all 12 held-out examples are non-clicks"
grep -q "^eval at step 5: auc undefined  logloss " <<<"$out" \
  || { echo "FAIL: no undefined AUC at step 5 in:"; echo "$out"; exit 1; }
echo "missing evaluations are null, with the reason"
echo "4 passed, 0 failed"
