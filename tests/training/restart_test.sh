#!/usr/bin/env bash
# restart_test.sh TRAIN MPIEXEC CKPT_TOOL SOURCE_DIR: jobs started where
# earlier runs left checkpoints.
#  1. a run from scratch into a checkpoint.dir that holds checkpoints is
#     refused before any work, naming them and the ways on, and changes
#     nothing; a leftover .tmp directory alone does not count;
#  2. resuming a finished job trains and saves nothing and exits 0;
#  3. a rollback to an older checkpoint continues and replaces the later
#     ones, ending with a complete set equal to the uninterrupted run's;
#  4. scripts/run.sh started twice, then resuming its last run, works.
set -euo pipefail
train=$1
mpiexec=$2
ckpt=$3
source_dir=$4
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

config() {  # config DIR: the small job writing checkpoints into DIR
  sed "s|CHECKPOINT_DIR|$1|" "$here/small_job.yaml" > "$1.yaml"
  echo "$1.yaml"
}
job() {  # job CONFIG [ARGS...]: 2 ranks, output in $work/out, exit status in $status
  local file=$1
  shift
  status=0
  "$mpiexec" -n 2 --oversubscribe "$train" --config "$file" "$@" > "$work/out" 2>&1 || status=$?
}
snapshot() { (cd "$1" && find . -printf '%p %s %T@\n' | sort); }
manifest_sums() { python3 -c "
import json,sys
m=json.load(open(sys.argv[1]))
print(sorted((f['path'],f['xxh3']) for t in m['tables'] for f in t['files']), sorted((e['name'],e['xxh3']) for e in m['extras']))" "$1"; }
expect_output() {  # expect_output TEXT WHAT
  grep -qF -- "$1" "$work/out" || { cat "$work/out"; fail "$2: no '$1' in the output"; }
}

used=$(config "$work/used")
job "$used"
[[ $status -eq 0 ]] || { cat "$work/out"; fail "the first run failed"; }
final=$(tail -n 1 "$work/out")
before=$(snapshot "$work/used")
sums_120=$(manifest_sums "$work/used/ckpt-000120/MANIFEST.json")

# 1. A second run from scratch into the same directory.
job "$used"
[[ $status -ne 0 ]] || fail "a run from scratch into a used checkpoint.dir was not refused"
expect_output "checkpoint.dir '$work/used' already holds 3 checkpoints (ckpt-000040 .. ckpt-000120), the newest at step 120: continue it with --resume latest, or set another checkpoint.dir" \
  "the refusal"
! grep -q "sharding plan" "$work/out" || fail "the refused run built its tables first"
[[ "$(snapshot "$work/used")" == "$before" ]] || fail "the refused run changed checkpoint.dir"
echo "a run from scratch into a used checkpoint.dir is refused at start, nothing changed"

mkdir -p "$work/crashed/ckpt-000040.tmp"
touch "$work/crashed/ckpt-000040.tmp/MANIFEST.json"
job "$(config "$work/crashed")"
[[ $status -eq 0 ]] || { cat "$work/out"; fail "a leftover .tmp directory made checkpoint.dir used"; }
[[ ! -e "$work/crashed/ckpt-000040.tmp" ]] || fail "the leftover .tmp directory was not removed"
echo "a leftover .tmp directory alone does not make checkpoint.dir used"

# 2. The finished job resumed again.
job "$used" --resume latest
[[ $status -eq 0 ]] || { cat "$work/out"; fail "resuming the finished job failed"; }
expect_output "the checkpoint at step 120 already reached steps 120: nothing to train" "the finished job"
python3 -c "import json,sys; s=json.loads(sys.argv[1]); sys.exit(0 if s['steps']==120 else 1)" \
  "$(tail -n 1 "$work/out")" || fail "no summary after resuming the finished job"
[[ "$(snapshot "$work/used")" == "$before" ]] || fail "resuming the finished job rewrote checkpoints"
echo "resuming a finished job trains and saves nothing, exit 0"

# 3. Roll back to step 40 with keep_last 2: 80 and 120 are saved again.
job "$used" --resume "$work/used/ckpt-000040" --set checkpoint.keep_last=2
[[ $status -eq 0 ]] || { cat "$work/out"; fail "the rollback failed"; }
expect_output "rolled back: checkpoint.dir '$work/used' holds 2 checkpoints (ckpt-000080 .. ckpt-000120) past step 40" \
  "the rollback"
for key in eval_auc eval_logloss train_logloss; do
  python3 -c "import json,sys; a,b=(json.loads(x)['$key'] for x in sys.argv[1:]); sys.exit(a!=b)" \
    "$final" "$(tail -n 1 "$work/out")" || fail "$key after the rollback differs from the first run"
done
[[ "$(ls "$work/used")" == "$(printf 'ckpt-000080\nckpt-000120')" ]] \
  || fail "after the rollback checkpoint.dir holds: $(ls "$work/used" | tr '\n' ' ')"
for step in 080 120; do "$ckpt" verify "$work/used/ckpt-000$step" > /dev/null; done
[[ "$(manifest_sums "$work/used/ckpt-000120/MANIFEST.json")" == "$sums_120" ]] \
  || fail "the rollback's ckpt-000120 differs from the first run's"
echo "a rollback continues, replaces the later checkpoints and keeps its own last 2"

# 4. scripts/run.sh, as the README starts it, twice and then resuming (the
# build step stubbed: the binary is already built).
mkdir -p "$work/checkout/scripts" "$work/checkout/configs" "$work/checkout/build/training"
cp "$source_dir/scripts/run.sh" "$work/checkout/scripts/"
printf '#!/usr/bin/env bash\n' > "$work/checkout/scripts/build.sh"
cp "$source_dir/configs/default.yaml" "$work/checkout/configs/"
ln -s "$train" "$work/checkout/build/training/rowshard-train"
quick=(--set steps=20 --set checkpoint.every=10 --set eval_every=0 --set eval_examples=2000)
for attempt in 1 2; do
  bash "$work/checkout/scripts/run.sh" "${quick[@]}" > "$work/out" 2>&1 \
    || { cat "$work/out"; fail "scripts/run.sh run $attempt failed"; }
done
runs=("$work"/checkout/checkpoints/default/run-*)
[[ ${#runs[@]} -eq 2 ]] || fail "two runs of scripts/run.sh made ${#runs[@]} run directories"
for run in "${runs[@]}"; do "$ckpt" verify "$run/ckpt-000020" > /dev/null; done
latest_run=${runs[1]#"$work/checkout/"}
bash "$work/checkout/scripts/run.sh" --set "checkpoint.dir=$latest_run" --resume latest \
  "${quick[@]}" > "$work/out" 2>&1 || { cat "$work/out"; fail "resuming a run of scripts/run.sh failed"; }
expect_output "already reached steps 20" "resuming a run of scripts/run.sh"
echo "scripts/run.sh twice, then resuming its last run: each works"
echo "4 passed, 0 failed"
