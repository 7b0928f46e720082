#!/usr/bin/env bash
# run_targets.sh: the issue targets' workloads, rowshard against PyTorch in
# the same run (bench/compare_torch.py), one JSON line per side and a
# compare line each. Each comparison alternates the two sides three times
# and pools their steps (--rounds), so that the host's drift lands on both.
# About 25 minutes; run on an otherwise idle machine.
set -euo pipefail
cd "$(dirname "$0")/.."
common=(--rows 4000000 --batch 65536 --pooling-factor 40 --tables 1 --mode sum --threads 2
        --seed 1 --rounds 3)
for dist in uniform zipf:1.05; do
  for dim in 64 128; do
    for dtype in f32 f16; do
      python3 bench/compare_torch.py "${common[@]}" --dim "$dim" --dist "$dist" --op forward \
          --dtype "$dtype" --repeat 15
    done
    # The training target is fp32's; fp16 storage shows what halving the
    # rows' bytes buys in a training step.
    for dtype in f32 f16; do
      python3 bench/compare_torch.py "${common[@]}" --dim "$dim" --dist "$dist" --op train \
          --dtype "$dtype" --repeat 5
    done
  done
done
