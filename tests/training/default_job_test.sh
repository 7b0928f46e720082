#!/usr/bin/env bash
# default_job_test.sh TRAIN MPIEXEC: the README's main job, as configured,
# must split its largest table row-wise and end within 0.01 held-out AUC of
# the planted model's own AUC.
set -euo pipefail
train=$1
mpiexec=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
output=$("$mpiexec" -n 2 --oversubscribe "$train" --config configs/default.yaml \
           --set checkpoint.dir="$work/checkpoints")
if ! grep -q "^  table items: row_wise$" <<<"$output"; then
  echo "the plan does not split table items row-wise:"; echo "$output"; exit 1
fi
summary=$(tail -n 1 <<<"$output")
echo "$summary"
python3 - "$summary" <<'PY'
import json, sys
s = json.loads(sys.argv[1])
gap = s["planted_auc"] - s["eval_auc"]
print(f"eval_auc {s['eval_auc']:.5f}, planted_auc {s['planted_auc']:.5f}, gap {gap:.5f}")
sys.exit(0 if gap <= 0.01 else 1)
PY
echo "1 passed, 0 failed"
