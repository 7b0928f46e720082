#!/usr/bin/env python3
"""The whole training job against the same model in PyTorch, in one run.

Usage
-----
  # both sides, 3 rounds alternated (the normal case):
  python3 bench/compare_dlrm.py --config configs/default.yaml --steps 1000 \\
      --threads 2 --layouts 1x2,2x1 --rounds 3

  # the rowshard side alone (no torch needed; the suite runs this):
  python3 bench/compare_dlrm.py --rowshard-only --config tests/training/small_job.yaml \\
      --steps 10 --layouts 1x1 --rounds 1

Flags:
  --config FILE   the job's config (default: configs/default.yaml); both
                  sides take their shape from it
  --steps N       training steps of --config's batch_size on each side
                  (default 1000)
  --threads T     torch's threads (default 2)
  --layouts L     the rowshard jobs, RANKSxTHREADS, comma-separated
                  (default 1x2,2x1)
  --rounds N      run every rowshard layout, then torch, N times over
                  (default 3); medians over the rounds are reported, since
                  this host's speed drifts within minutes and alternating
                  spreads the drift over both sides
  --warmup N      torch steps before its clock starts (default 5)
  --train PATH    rowshard-train (default: <repo>/build/training/rowshard-train)
  --mpirun PATH   mpirun (default: mpirun)
  --python PATH   interpreter for the torch child (default: this one if it
                  can import torch, else /usr/bin/python3)
  --rowshard-only / --torch-only   one side only (no ratios)

The rowshard side
-----------------
  mpirun --allow-run-as-root --oversubscribe [--bind-to none] -np R \\
      rowshard-train --config FILE --set steps=N --set threads=T \\
      --set eval_every=0 --set checkpoint=null

`--bind-to none` when T > 1 (mpirun binds a rank to one core otherwise, and
its threads would take turns on it). Its examples/s is the job's own:
`examples_per_s` of the summary line it prints last, counted from the first
step to the last, including the job's generation of its synthetic examples
(the summary's `seconds.data`) and excluding start-up and the final
evaluation.

The torch side
--------------
A child process (/usr/bin/python3 with Debian's python3-torch when this
interpreter lacks torch) with torch.set_num_threads(T) and
OMP_NUM_THREADS=T. The model mirrors the config and the dense model of
training/model/dlrm.h:
  * one nn.EmbeddingBag(rows, dim, mode=pooling, sparse=True) per table,
    looked up once per feature (features sharing a table share the module),
    one id per example and feature;
  * the bottom MLP num_dense -> bottom_mlp... -> dim, ReLU after each layer;
  * dot interaction: the pairwise dots i < j of (x, e_0, ..., e_{F-1}) in
    row-major order, concatenated after x;
  * the top MLP -> top_mlp... -> 1 (ReLU after all but the last), and
    binary_cross_entropy_with_logits, mean over the batch;
  * torch.optim.Adagrad (element-wise: torch has no row-wise one) or SGD on
    each table with its lr, torch.optim.Adam or SGD on the dense part with
    model.optimizer's lr and weight_decay.
Its data is made before the clock starts: --steps batches of batch_size
examples, ids per feature from the same power law as the job's synthetic
data (u uniform, x = (((rows + 1)^(1 - a) - 1) u + 1)^(1 / (1 - a)),
id = floor(x) - 1, a = data.synthetic.zipf_alpha, low ids hot), dense
features N(0, 1), labels 0/1 with probability 1/2. --warmup steps run on the
first batches, then every batch once under the clock: examples/s =
steps * batch_size / seconds.

Output (stdout, one JSON object per line): one per measurement,
{"engine":"rowshard","round":1,"ranks":1,"threads":2,"examples_per_s":...,
"seconds":{...the job's phases...},...} and {"engine":"torch",...,
"phase_seconds":{"forward","backward","optimizer"},...}, each with the
1-minute load average before it and the other processes' busy cores during
it (other_cores_busy, from /proc/stat: on this 2-core host anything above
~0.2 slows either side); then {"compare":"rowshard_vs_torch_dlrm",
"torch_examples_per_s_median":..., "layouts":[{"ranks","threads",
"examples_per_s_median","ratio","ratio_per_round"},...],
"loadavg_1min_range":[lowest, highest],...}, where ratio is rowshard's median
examples/s over torch's. Progress goes to stderr. Exit
status: 0 ok, 2 usage, a config the torch model cannot mirror or a missing
binary, 3 a side failed.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from compare_torch import (REPO_ROOT, die, host_cpu_seconds, last_json_line, log, pick_python,
                           positive_int, torch_child_env)

DEFAULT_TRAIN = REPO_ROOT / "build" / "training" / "rowshard-train"
DEFAULT_CONFIG = REPO_ROOT / "configs" / "default.yaml"

# docs/config.md's defaults of the keys the torch model reads.
DEFAULT_SEED = 1
DEFAULT_BATCH_SIZE = 1024
DEFAULT_NUM_DENSE = 13
DEFAULT_ZIPF_ALPHA = 1.05
DEFAULT_BOTTOM_MLP = [64]
DEFAULT_TOP_MLP = [64, 32]
DEFAULT_DENSE_OPTIMIZER = {"name": "adam", "lr": 0.001}
DEFAULT_TABLE_OPTIMIZER = {"name": "rowwise_adagrad", "lr": 0.05}


def layouts_arg(text):
    layouts = []
    for item in text.split(","):
        ranks, _, threads = item.partition("x")
        try:
            layout = (int(ranks), int(threads))
        except ValueError:
            layout = (0, 0)
        if min(layout) < 1:
            raise argparse.ArgumentTypeError(
                "--layouts takes RANKSxTHREADS items, both >= 1, comma-separated "
                "(e.g. 1x2,2x1), got '%s'" % item)
        layouts.append(layout)
    return layouts


def build_parser():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                epilog="Details: the docstring of bench/compare_dlrm.py.")
    p.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    p.add_argument("--steps", type=positive_int, default=1000)
    p.add_argument("--threads", type=positive_int, default=2)
    p.add_argument("--layouts", type=layouts_arg, default=[(1, 2), (2, 1)])
    p.add_argument("--rounds", type=positive_int, default=3)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--train", type=Path, default=DEFAULT_TRAIN)
    p.add_argument("--mpirun", default="mpirun")
    p.add_argument("--python", default=None)
    sides = p.add_mutually_exclusive_group()
    sides.add_argument("--rowshard-only", action="store_true")
    sides.add_argument("--torch-only", action="store_true")
    # internal: the torch child
    p.add_argument("--_worker", choices=["torch"], help=argparse.SUPPRESS)
    return p


# --------------------------------------------------------------------------
# the model's shape, from the config
# --------------------------------------------------------------------------

def read_shape(config_path):
    """What the torch model needs of the job's config, with docs/config.md's
    defaults; refuses what it cannot mirror, naming the key."""
    import yaml
    try:
        with open(config_path) as f:
            c = yaml.safe_load(f)
    except (OSError, yaml.YAMLError) as e:
        die("cannot read the config %s: %s" % (config_path, e))

    def refuse(key, why):
        die("%s: %s: %s; the torch model cannot mirror it" % (config_path, key, why))

    data = c.get("data") or {}
    if data.get("source") != "synthetic":
        refuse("data.source", "is %r, not synthetic" % data.get("source"))
    synthetic = data.get("synthetic") or {}
    tables = []
    for i, t in enumerate(c.get("tables") or []):
        if t.get("pooling", "sum") not in ("sum", "mean"):
            refuse("tables[%d].pooling" % i, "%r (torch's sparse gradients take sum or mean)"
                   % t.get("pooling"))
        if t.get("dtype", "f32") != "f32":
            refuse("tables[%d].dtype" % i, "%r (the torch side is f32)" % t.get("dtype"))
        optimizer = dict(DEFAULT_TABLE_OPTIMIZER, **(t.get("optimizer") or {}))
        tables.append({"name": t["name"], "rows": t["rows"], "dim": t["dim"],
                       "pooling": t.get("pooling", "sum"), "optimizer": optimizer})
    index = {t["name"]: i for i, t in enumerate(tables)}
    features = []
    for i, f in enumerate(c.get("features") or []):
        if f.get("weighted", False):
            refuse("features[%d].weighted" % i, "weighted features are not mirrored")
        if f.get("table") not in index:
            refuse("features[%d].table" % i, "%r is not a table of the config" % f.get("table"))
        features.append(index[f["table"]])
    if not tables or not features:
        refuse("tables/features", "none given")
    model = c.get("model") or {}
    return {
        "seed": c.get("seed", DEFAULT_SEED),
        "batch_size": c.get("batch_size", DEFAULT_BATCH_SIZE),
        "num_dense": synthetic.get("num_dense", DEFAULT_NUM_DENSE),
        "zipf_alpha": synthetic.get("zipf_alpha", DEFAULT_ZIPF_ALPHA),
        "tables": tables,
        "feature_tables": features,
        "bottom_mlp": model.get("bottom_mlp", DEFAULT_BOTTOM_MLP),
        "top_mlp": model.get("top_mlp", DEFAULT_TOP_MLP),
        "dense_optimizer": dict(DEFAULT_DENSE_OPTIMIZER, **(model.get("optimizer") or {})),
    }


# --------------------------------------------------------------------------
# torch side (the child)
# --------------------------------------------------------------------------

def skewed_ids(rng, rows, alpha, count):
    """training/data/synthetic.cpp's skewed_id on `count` uniform draws."""
    import numpy as np
    u = rng.random(count)
    n = rows + 1.0
    if abs(alpha - 1.0) < 1e-9:
        x = np.power(n, u)
    else:
        e = 1.0 - alpha
        x = np.power((n ** e - 1.0) * u + 1.0, 1.0 / e)
    return np.clip(x.astype(np.int64) - 1, 0, rows - 1)


def make_batches(shape, steps):
    """ids [steps, F, B], dense [steps, B, num_dense], labels [steps, B]."""
    import numpy as np
    import torch
    rng = np.random.default_rng(shape["seed"])
    B, F = shape["batch_size"], len(shape["feature_tables"])
    ids = np.empty((steps, F, B), dtype=np.int64)
    for f, t in enumerate(shape["feature_tables"]):
        rows = shape["tables"][t]["rows"]
        ids[:, f, :] = skewed_ids(rng, rows, shape["zipf_alpha"], steps * B).reshape(steps, B)
    dense = rng.standard_normal((steps, B, shape["num_dense"]), dtype=np.float32)
    labels = rng.integers(0, 2, size=(steps, B)).astype(np.float32)
    return torch.from_numpy(ids), torch.from_numpy(dense), torch.from_numpy(labels)


def build_model(shape):
    import torch
    from torch import nn

    def mlp(widths, relu_last):
        layers = []
        for k in range(len(widths) - 1):
            layers.append(nn.Linear(widths[k], widths[k + 1]))
            if relu_last or k + 2 < len(widths):
                layers.append(nn.ReLU())
        return nn.Sequential(*layers)

    class Dlrm(nn.Module):
        def __init__(self):
            super().__init__()
            dim = shape["tables"][0]["dim"]
            self.tables = nn.ModuleList(
                nn.EmbeddingBag(t["rows"], t["dim"], mode=t["pooling"], sparse=True)
                for t in shape["tables"])
            self.feature_tables = shape["feature_tables"]
            num_dense = shape["num_dense"]
            self.bottom = (mlp([num_dense] + shape["bottom_mlp"] + [dim], True)
                           if num_dense > 0 else None)
            vectors = len(self.feature_tables) + (1 if self.bottom is not None else 0)
            width = (dim if self.bottom is not None else 0) + vectors * (vectors - 1) // 2
            self.top = mlp([width] + shape["top_mlp"] + [1], False)
            self.pairs = torch.triu_indices(vectors, vectors, offset=1)

        def forward(self, dense, ids, offsets):
            pooled = [self.tables[t](ids[f], offsets) for f, t in enumerate(self.feature_tables)]
            x = [self.bottom(dense)] if self.bottom is not None else []
            v = torch.stack(x + pooled, dim=1)
            dots = torch.bmm(v, v.transpose(1, 2))[:, self.pairs[0], self.pairs[1]]
            return self.top(torch.cat(x + [dots], dim=1)).squeeze(1)

    return Dlrm()


def build_optimizers(shape, model):
    import torch
    optimizers = []
    for table, spec in zip(model.tables, shape["tables"]):
        o = spec["optimizer"]
        kind = torch.optim.SGD if o["name"] == "sgd" else torch.optim.Adagrad
        optimizers.append(kind([table.weight], lr=o["lr"]))
    dense = [p for name, p in model.named_parameters() if not name.startswith("tables.")]
    o = shape["dense_optimizer"]
    kind = torch.optim.SGD if o["name"] == "sgd" else torch.optim.Adam
    optimizers.append(kind(dense, lr=o["lr"], weight_decay=o.get("weight_decay", 0.0)))
    return optimizers


def torch_worker(args):
    import torch
    import torch.nn.functional as functional

    torch.set_num_threads(args.threads)
    shape = read_shape(args.config)
    torch.manual_seed(shape["seed"])
    data_start = time.perf_counter()
    ids, dense, labels = make_batches(shape, args.steps)
    data_seconds = time.perf_counter() - data_start
    offsets = torch.arange(shape["batch_size"], dtype=torch.int64)
    model = build_model(shape)
    optimizers = build_optimizers(shape, model)
    phases = {"forward": 0.0, "backward": 0.0, "optimizer": 0.0}

    def step(s):
        t0 = time.perf_counter()
        loss = functional.binary_cross_entropy_with_logits(model(dense[s], ids[s], offsets),
                                                           labels[s])
        t1 = time.perf_counter()
        for o in optimizers:
            o.zero_grad(set_to_none=True)
        loss.backward()
        t2 = time.perf_counter()
        for o in optimizers:
            o.step()
        t3 = time.perf_counter()
        phases["forward"] += t1 - t0
        phases["backward"] += t2 - t1
        phases["optimizer"] += t3 - t2
        return loss

    for s in range(args.warmup):
        step(s % args.steps)
    for name in phases:
        phases[name] = 0.0
    start = time.perf_counter()
    for s in range(args.steps):
        loss = step(s)
    seconds = time.perf_counter() - start
    print(json.dumps({
        "engine": "torch", "threads": args.threads, "steps": args.steps,
        "batch_size": shape["batch_size"],
        "examples_per_s": args.steps * shape["batch_size"] / seconds,
        "timed_seconds": seconds, "phase_seconds": phases,
        "data_seconds_before_clock": data_seconds,
        "last_loss": float(loss), "torch_version": torch.__version__,
        "torch_threads": torch.get_num_threads()}), flush=True)


# --------------------------------------------------------------------------
# parent (stdlib and PyYAML)
# --------------------------------------------------------------------------

def measured(argv, who, env=None):
    """Runs a side; returns its last JSON line with the load around it."""
    log("running %s: %s" % (who, " ".join(argv)))
    load = os.getloadavg()[0]
    host0, children0, wall0 = host_cpu_seconds(), os.times(), time.perf_counter()
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=sys.stderr, text=True, env=env)
    host1, children1, wall1 = host_cpu_seconds(), os.times(), time.perf_counter()
    if r.returncode != 0:
        die("%s failed with exit status %d" % (who, r.returncode), 3)
    result = last_json_line(r.stdout, who)
    if not isinstance(result.get("examples_per_s"), (int, float)):
        die("%s's summary has no examples_per_s: %s" % (who, json.dumps(result)), 3)
    own = (children1.children_user + children1.children_system -
           children0.children_user - children0.children_system)
    result["loadavg_1min_before"] = load
    if host0 is not None and host1 is not None:
        result["other_cores_busy"] = max(0.0, (host1 - host0 - own) / (wall1 - wall0))
    return result


def rowshard_argv(args, ranks, threads):
    bind = ["--bind-to", "none"] if threads > 1 else []
    return ([args.mpirun, "--allow-run-as-root", "--oversubscribe"] + bind +
            ["-np", str(ranks), str(args.train), "--config", str(args.config),
             "--set", "steps=%d" % args.steps, "--set", "threads=%d" % threads,
             "--set", "eval_every=0", "--set", "checkpoint=null"])


def run_rowshard(args, ranks, threads, round_number):
    result = measured(rowshard_argv(args, ranks, threads),
                      "rowshard %dx%d (round %d of %d)" % (ranks, threads, round_number,
                                                           args.rounds))
    if result.get("steps") != args.steps:
        die("rowshard-train ran %r steps, asked for %d" % (result.get("steps"), args.steps), 3)
    return dict({"engine": "rowshard", "round": round_number, "ranks": ranks,
                 "threads": threads}, **result)


def run_torch(args, round_number):
    argv = [pick_python(args), str(Path(__file__).resolve()), "--_worker", "torch",
            "--config", str(args.config), "--steps", str(args.steps),
            "--threads", str(args.threads), "--warmup", str(args.warmup)]
    result = measured(argv, "torch (round %d of %d)" % (round_number, args.rounds),
                      torch_child_env(args.threads))
    return dict({"round": round_number}, **result)


def summary(args, rowshard, torch_runs):
    loads = [r["loadavg_1min_before"] for r in rowshard + torch_runs]
    out = {"compare": "rowshard_vs_torch_dlrm", "config": str(args.config),
           "steps": args.steps, "rounds": args.rounds,
           "loadavg_1min_range": [min(loads), max(loads)]}
    if torch_runs:
        out["torch_threads"] = args.threads
        out["torch_examples_per_s_median"] = statistics.median(
            r["examples_per_s"] for r in torch_runs)
    layouts = []
    for ranks, threads in args.layouts:
        runs = [r for r in rowshard if (r["ranks"], r["threads"]) == (ranks, threads)]
        if not runs:
            continue
        layout = {"ranks": ranks, "threads": threads,
                  "examples_per_s_median": statistics.median(r["examples_per_s"] for r in runs)}
        if torch_runs:
            layout["ratio"] = layout["examples_per_s_median"] / out["torch_examples_per_s_median"]
            layout["ratio_per_round"] = [r["examples_per_s"] / t["examples_per_s"]
                                         for r, t in zip(runs, torch_runs)]
        layouts.append(layout)
    out["layouts"] = layouts
    return out


def main():
    args = build_parser().parse_args()
    if args._worker == "torch":
        torch_worker(args)
        return
    if not args.config.is_file():
        die("config not found: %s" % args.config)
    if not args.rowshard_only:
        read_shape(args.config)  # refuses a config the torch model cannot mirror, before any run
    if not args.torch_only and not (args.train.is_file() and os.access(args.train, os.X_OK)):
        die("rowshard-train not found or not executable: %s\n  build it (cmake --build build "
            "--target rowshard-train), pass --train PATH, or use --torch-only" % args.train)

    rowshard, torch_runs = [], []
    for r in range(1, args.rounds + 1):
        if not args.torch_only:
            for ranks, threads in args.layouts:
                rowshard.append(run_rowshard(args, ranks, threads, r))
                print(json.dumps(rowshard[-1]), flush=True)
        if not args.rowshard_only:
            torch_runs.append(run_torch(args, r))
            print(json.dumps(torch_runs[-1]), flush=True)
    print(json.dumps(summary(args, rowshard, torch_runs)), flush=True)


if __name__ == "__main__":
    main()
