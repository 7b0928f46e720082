#!/usr/bin/env python3
"""Turns bench/run_targets.sh's JSON lines (stdin) into the Markdown table
BENCHMARKS.md shows, each ratio checked against the issue's target:

  bash bench/run_targets.sh | tee targets.jsonl | python3 bench/targets_table.py
"""

import json
import sys

# (op, rowshard dtype) -> the least speedup over torch's fp32 the issue asks for.
TARGETS = {("forward", "f32"): 1.3, ("forward", "f16"): 1.8, ("train", "f32"): 20.0}


def memory_bound_mb(rowshard):
    """Table bytes + row-wise Adagrad state (train) + 10% + 200 MB."""
    bytes_per_value = 2 if rowshard["dtype"] in ("f16", "bf16") else 4
    table = rowshard["rows"] * rowshard["dim"] * bytes_per_value * rowshard["tables"]
    state = rowshard["rows"] * 4 * rowshard["tables"] if rowshard["op"] == "train" else 0
    return ((table + state) * 1.1) / 2**20 + 200


def main():
    lines = [json.loads(line) for line in sys.stdin if line.strip().startswith("{")]
    print("| op | dim | ids | rowshard dtype | rowshard s/step | torch s/step | speedup | target "
          "| rowshard RSS MB (bound) | torch RSS MB | torch other_cores_busy |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    rowshard = torch = None
    for line in lines:
        if line.get("engine") == "rowshard":
            rowshard = line
        elif line.get("engine") == "torch":
            torch = line
        elif line.get("compare") and rowshard and torch:
            target = TARGETS.get((rowshard["op"], rowshard["dtype"]))
            speedup = line["speedup"]
            verdict = "" if target is None else (
                "%gx: met" % target if speedup >= target else "%gx: **not met**" % target)
            bound = memory_bound_mb(rowshard)
            busy = torch.get("other_cores_busy")
            print("| %s | %d | %s | %s | %.4f | %.4f | %.2fx | %s | %.0f (%.0f%s) | %.0f | %s |" % (
                rowshard["op"], rowshard["dim"], rowshard["dist"], rowshard["dtype"],
                rowshard["seconds_median"], torch["seconds_median"], speedup, verdict,
                rowshard["peak_rss_mb"], bound, "" if rowshard["peak_rss_mb"] <= bound else ", **over**",
                torch["peak_rss_mb"], "-" if busy is None else "%.2f" % busy))
            rowshard = torch = None


if __name__ == "__main__":
    main()
