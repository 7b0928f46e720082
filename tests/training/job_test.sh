#!/usr/bin/env bash
# job_test.sh TRAIN MPIEXEC CKPT_TOOL: the training job end to end.
#  1. the same config at 1, 2 and 4 ranks gives the same final metrics;
#  2. a run killed with kill -9 after a checkpoint and resumed with
#     --resume latest ends with the same tables, dense model and metrics as
#     a run never interrupted (2 ranks), and resuming at 1 rank works too.
set -euo pipefail
train=$1
mpiexec=$2
ckpt=$3
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

config() {  # config DIR: the small job writing checkpoints into DIR
  sed "s|CHECKPOINT_DIR|$1|" "$here/small_job.yaml" > "$1.yaml"
  echo "$1.yaml"
}
run() {  # run RANKS CONFIG [ARGS...]: the summary line
  local ranks=$1 file=$2
  shift 2
  "$mpiexec" -n "$ranks" --oversubscribe "$train" --config "$file" "$@" | tail -n 1
}
metric() { python3 -c "import json,sys; print(json.loads(sys.argv[1])['$2'])" "$1"; }
close() {  # close A B TOLERANCE NAME
  python3 -c "import sys; a,b,t=map(float,sys.argv[1:4]); sys.exit(0 if abs(a-b)<=t else 1)" "$1" "$2" "$3" \
    || { echo "FAIL: $4 differs: $1 vs $2 (tolerance $3)"; exit 1; }
}

one=$(run 1 "$(config "$work/n1")")
two=$(run 2 "$(config "$work/n2")")
four=$(run 4 "$(config "$work/n4")")
echo "1 rank:  $one"; echo "2 ranks: $two"; echo "4 ranks: $four"
for summary in "$two" "$four"; do
  for key in eval_auc eval_logloss train_logloss; do
    close "$(metric "$one" $key)" "$(metric "$summary" $key)" 1e-4 "$key across rank counts"
  done
done
echo "same metrics at 1, 2 and 4 ranks"

# Kill -9 once the step-80 checkpoint exists, then resume.
interrupted=$(config "$work/killed")
"$mpiexec" -n 2 --oversubscribe "$train" --config "$interrupted" --set steps=100000 >/dev/null 2>&1 &
job=$!
for _ in $(seq 1 600); do
  [[ -f "$work/killed/ckpt-000080/MANIFEST.json" ]] && break
  sleep 0.1
done
kill -9 $job 2>/dev/null || true
pkill -9 -f "$train --config $interrupted" 2>/dev/null || true
wait $job 2>/dev/null || true
rm -rf "$work"/killed/ckpt-0001[0-9][0-9]* "$work"/killed/*.tmp  # keep the run short: resume at 80
resumed=$(run 2 "$interrupted" --resume latest)
echo "resumed: $resumed"
for key in eval_auc eval_logloss train_logloss; do
  [[ "$(metric "$two" $key)" == "$(metric "$resumed" $key)" ]] \
    || { echo "FAIL: $key after resume: $(metric "$resumed" $key), uninterrupted $(metric "$two" $key)"; exit 1; }
done
# The final checkpoints hold the same bits: compare every file's checksum.
manifest_sums() { "$here/checkpoint_digest.py" "$1" data_positions; }
[[ "$(manifest_sums "$work/n2/ckpt-000120/MANIFEST.json")" == "$(manifest_sums "$work/killed/ckpt-000120/MANIFEST.json")" ]] \
  || { echo "FAIL: the resumed run's final checkpoint differs from the uninterrupted one"; exit 1; }
echo "kill -9 and --resume latest at 2 ranks: identical final tables, dense model and metrics"

# A checkpoint from 2 ranks resumes at 1.
cp -r "$work/n2" "$work/n2to1"
sed "s|CHECKPOINT_DIR|$work/n2to1|" "$here/small_job.yaml" > "$work/n2to1.yaml"
rm -rf "$work"/n2to1/ckpt-000120
moved=$(run 1 "$work/n2to1.yaml" --resume "$work/n2to1/ckpt-000080")
close "$(metric "$two" eval_auc)" "$(metric "$moved" eval_auc)" 1e-4 "eval_auc after resuming 2 ranks at 1"
"$ckpt" verify "$work/n2to1/ckpt-000120" >/dev/null
echo "a 2-rank checkpoint resumed at 1 rank"
echo "3 passed, 0 failed"
