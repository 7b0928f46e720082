#!/usr/bin/env bash
# The device check, in one command, on a machine with a GPU (at most about
# 8 minutes on one H100):
#
#   bash scripts/gpu_check.sh [RESULTS_DIR]
#
# Builds rowshard with CUDA for this machine's GPU in ./build-gpu, then runs
#   1. every test labelled gpu: the conformance cases on the GPU against the
#      expected arrays and the CPU engine, the determinism rerun, a hot row
#      with a million hits, host-mapped tables, a 1-rank NCCL exchange;
#   2. the 2-rank sharded job with its tables on the GPU (both ranks share
#      it, so their exchanges are staged through host memory), against the
#      same job on the CPU;
#   3. rowshard-bench --device cuda on the issue's workloads: the card's own
#      device-to-device copy bandwidth, then forward and training-step GB/s
#      as a fraction of it, one JSON line each.
# Everything it prints also goes to RESULTS_DIR (default: $OUT if set, else
# ./gpu-check-results). Exits non-zero if any part fails.
set -uo pipefail
cd "$(dirname "$0")/.."

results=${1:-${OUT:-gpu-check-results}}
mkdir -p "$results"
exec > >(tee "$results/gpu_check.log") 2>&1

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1
failures=()
step() { echo; echo "== $1 ($(date +%T))"; }

step "the GPU"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || failures+=(nvidia-smi)

step "build with CUDA for this GPU"
bash scripts/install_deps.sh
cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DROWSHARD_CUDA=ON \
  -DCMAKE_CUDA_ARCHITECTURES=native >"$results/configure.log" &&
  cmake --build build-gpu --parallel "$(nproc)" | tail -3 || {
  echo "gpu_check: the build failed"
  exit 1
}
grep -q "rowshard: CUDA backend ON" "$results/configure.log" || {
  echo "gpu_check: CMake found no nvcc, so nothing here runs on the GPU"
  exit 1
}

step "tests labelled gpu"
timeout 300 ctest --test-dir build-gpu -L gpu --output-on-failure --timeout 120 \
  --output-junit "$PWD/$results/gpu_tests.xml" || failures+=(gpu-tests)
if ctest --test-dir build-gpu -L gpu -N | grep -q "Total Tests: 0"; then
  failures+=(no-gpu-tests)
fi

step "the 2-rank job, tables on the GPU against the CPU"
job() {
  timeout 120 mpirun -np 2 --bind-to none build-gpu/training/rowshard-train \
    --config configs/default.yaml --set steps=300 --set eval_examples=4000 \
    --set checkpoint=null "$@" |
    tail -1
}
cpu_summary=$(job --set device=cpu) || failures+=(job-cpu)
gpu_summary=$(job --set device=cuda) || failures+=(job-cuda)
echo "cpu:  $cpu_summary"
echo "cuda: $gpu_summary"
echo "{\"cpu\": ${cpu_summary:-null}, \"cuda\": ${gpu_summary:-null}}" >"$results/job.json"
python3 - "$results/job.json" <<'EOF' || failures+=(job-agreement)
import json, sys
jobs = json.load(open(sys.argv[1]))
cpu, gpu = jobs["cpu"], jobs["cuda"]
# The GPU sums a row's gradient in the CPU's order except for rows split
# into partial sums, so the two runs may drift apart by rounding only.
for key in ("train_logloss", "eval_auc"):
    if key in cpu and abs(cpu[key] - gpu[key]) > 2e-3:
        sys.exit(f"job: {key} {gpu[key]} on the GPU, {cpu[key]} on the CPU")
print("job: the GPU run agrees with the CPU run")
EOF

step "rowshard-bench --device cuda"
bench() {
  timeout 120 build-gpu/bench/rowshard-bench --device cuda --rows 4000000 --batch 65536 \
    --pooling-factor 40 --mode sum --dist uniform --threads 1 --seed 1 --repeat 20 "$@" |
    tee -a "$results/bench.jsonl" || failures+=("bench $*")
}
: >"$results/bench.jsonl"
bench --dim 128 --dtype f32 --op forward
bench --dim 128 --dtype f32 --op train
bench --dim 64 --dtype f32 --op forward
bench --dim 64 --dtype f16 --op forward

echo
if ((${#failures[@]})); then
  echo "gpu_check: FAILED: ${failures[*]}"
  exit 1
fi
echo "gpu_check: all passed; results in $results"
