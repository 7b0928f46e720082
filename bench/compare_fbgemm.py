#!/usr/bin/env python3
"""Benchmark rowshard against FBGEMM's CPU kernels on the same batch.

Usage
-----
  python3 bench/compare_fbgemm.py --rows 4000000 --dim 64 --batch 65536 \\
      --pooling-factor 40 --tables 1 --dist zipf:1.05 --op train \\
      --threads 2 --seed 1 --repeat 5 --rounds 3

Runs build/bench/rowshard-bench, then build/bench/fbgemm-bench (configured
with -DROWSHARD_FBGEMM_DIR=<FBGEMM install prefix>), --rounds times over with
the same flags, so both see the same ids, gradients and thread count. Both
are fp32 and sum pooling (fbgemm-bench has no other). Alternating spreads
this host's drift over both sides; each side's timed steps are pooled over
the rounds as in compare_torch.py.

  --bench PATH     rowshard-bench (default: <repo>/build/bench/rowshard-bench)
  --fbgemm PATH    fbgemm-bench (default: <repo>/build/bench/fbgemm/fbgemm-bench)

Output (stdout, one JSON object per line): the rowshard line, the fbgemm
line, then {"compare":"rowshard_vs_fbgemm","ratio":fbgemm_median /
rowshard_median, ...}: rowshard's speed over FBGEMM's, above 1 when rowshard
is faster. The compare line carries the 1-minute load average before each
round ("loadavg_1min") as a noise flag. Exit status: 0 ok, 2 usage or
missing binary, 3 a side failed.
"""

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from compare_torch import (REPO_ROOT, WORKLOAD_KEYS, dist_arg, last_json_line, pool_rounds,
                           positive_int)

DEFAULT_BENCH = REPO_ROOT / "build" / "bench" / "rowshard-bench"
DEFAULT_FBGEMM = REPO_ROOT / "build" / "bench" / "fbgemm" / "fbgemm-bench"


def log(*a):
    print("[compare_fbgemm]", *a, file=sys.stderr, flush=True)


def die(msg, code=2):
    print("compare_fbgemm.py: error: " + msg, file=sys.stderr, flush=True)
    sys.exit(code)


def build_parser():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    p.add_argument("--rows", type=positive_int, default=1000000)
    p.add_argument("--dim", type=positive_int, default=64)
    p.add_argument("--batch", type=positive_int, default=16384)
    p.add_argument("--pooling-factor", type=positive_int, default=40)
    p.add_argument("--tables", type=positive_int, default=1)
    p.add_argument("--dist", type=dist_arg, default="uniform")
    p.add_argument("--op", choices=["forward", "train"], default="forward")
    p.add_argument("--threads", type=positive_int, default=os.cpu_count() or 1)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--repeat", type=positive_int, default=5)
    p.add_argument("--rounds", type=positive_int, default=3)
    p.add_argument("--bench", type=Path, default=DEFAULT_BENCH)
    p.add_argument("--fbgemm", type=Path, default=DEFAULT_FBGEMM)
    return p


def workload_flags(args):
    return ["--rows", str(args.rows), "--dim", str(args.dim), "--batch", str(args.batch),
            "--pooling-factor", str(args.pooling_factor), "--tables", str(args.tables),
            "--mode", "sum", "--dtype", "f32", "--dist", args.dist, "--op", args.op,
            "--threads", str(args.threads), "--seed", str(args.seed),
            "--repeat", str(args.repeat)]


def run_side(binary, args, who):
    argv = [str(binary)] + workload_flags(args)
    log("running %s: %s" % (who, " ".join(argv)))
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=sys.stderr, text=True)
    if r.returncode != 0:
        die("%s failed with exit status %d" % (who, r.returncode), 3)
    result = last_json_line(r.stdout, who)
    for k in WORKLOAD_KEYS:
        expected = {"mode": "sum", "dtype": "f32"}.get(k, getattr(args, k, None))
        if str(result.get(k)) != str(expected):
            die("%s reports %s=%r, asked for %r" % (who, k, result.get(k), expected), 3)
    return result


def main():
    args = build_parser().parse_args()
    for binary in (args.bench, args.fbgemm):
        if not (binary.is_file() and os.access(binary, os.X_OK)):
            die("%s not found or not executable; build it (fbgemm-bench needs "
                "-DROWSHARD_FBGEMM_DIR, see BENCHMARKS.md) or pass --bench / --fbgemm" % binary)
    sides = {"rowshard": [], "fbgemm": []}
    loadavg = []
    for r in range(args.rounds):
        loadavg.append(os.getloadavg()[0])
        for name, binary in (("rowshard", args.bench), ("fbgemm", args.fbgemm)):
            sides[name].append(
                run_side(binary, args, "%s (round %d of %d)" % (name, r + 1, args.rounds)))
    rowshard, fbgemm = pool_rounds(sides["rowshard"]), pool_rounds(sides["fbgemm"])
    print(json.dumps(rowshard), flush=True)
    print(json.dumps(fbgemm), flush=True)
    compare = {"compare": "rowshard_vs_fbgemm",
               "ratio": fbgemm["seconds_median"] / rowshard["seconds_median"],
               "rowshard_seconds_median": rowshard["seconds_median"],
               "fbgemm_seconds_median": fbgemm["seconds_median"],
               "loadavg_1min": loadavg}
    for k in ["op", "rows", "dim", "batch", "pooling_factor", "tables", "dist", "threads",
              "repeat", "rounds", "seed"]:
        compare[k] = getattr(args, k)
    print(json.dumps(compare), flush=True)


if __name__ == "__main__":
    main()
