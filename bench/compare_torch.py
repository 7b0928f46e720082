#!/usr/bin/env python3
"""Benchmark rowshard against PyTorch's nn.EmbeddingBag on the same batch.

Usage
-----
  # both sides, same ids, same run (the normal case):
  python3 bench/compare_torch.py --rows 4000000 --dim 64 --batch 65536 \\
      --pooling-factor 40 --tables 1 --mode sum --dtype f16 \\
      --dist zipf:1.05 --op train --threads 2 --seed 1 --repeat 5

  # torch side only, on ids written earlier by `rowshard-bench --write-ids DIR`:
  python3 bench/compare_torch.py ...same flags... --torch-only --ids DIR

  # torch side only, ids generated here (no C++ binary needed):
  python3 bench/compare_torch.py ...same flags... --torch-only --generate-ids

Flags are those of build/bench/rowshard-bench (--rows --dim --batch
--pooling-factor --tables --mode --dtype --dist --op --threads --seed
--repeat), plus:
  --bench PATH      the C++ binary (default: <repo>/build/bench/rowshard-bench)
  --torch-only      skip rowshard; needs --ids DIR or --generate-ids
  --ids DIR         torch-only: read ids from DIR (or, with --generate-ids,
                    write them there and keep them); full mode: the
                    directory rowshard-bench writes its ids to (kept)
  --generate-ids    make the ids here. Without --torch-only, this is only
                    used when the binary is missing: the torch side then
                    runs alone (a warning goes to stderr, no compare line)
  --python PATH     interpreter for the torch child (default: this one if
                    it can import torch, else /usr/bin/python3)
  --rounds N        run rowshard, then torch, N times over (default 1), and
                    pool each side's timed steps: this host's speed drifts
                    by up to 2x within minutes, and alternating the sides
                    spreads the drift over both instead of one

Output (stdout, one JSON object per line): the rowshard line (verbatim from
the binary, or with --rounds the rounds pooled: median, min, max and
seconds_all over every timed step, the largest peak RSS, each round's median
in seconds_median_per_round), the torch line (same fields, "engine":"torch"),
then {"compare":"rowshard_vs_torch","speedup":torch_median/rowshard_median,...}.
Progress and warnings go to stderr. Exit status: 0 ok, 2 usage / missing
binary, 3 a side failed.

What the torch side measures
----------------------------
It runs in its own subprocess (so ru_maxrss is per side), with
torch.set_num_threads(--threads) and OMP_NUM_THREADS=--threads.
  * T tables of nn.EmbeddingBag(R, D, mode=mode, sparse=(op == "train")),
    fp32 weights whatever --dtype says (--dtype only affects rowshard).
  * forward: one step = the forward of all T tables on their ids/offsets,
    under torch.no_grad().
  * train: one step = forward of all T tables, backward with a fixed random
    grad_output per table (N(0,1), made once, seeded), then
    torch.optim.Adagrad(all params, lr=0.01).step() on the sparse grads and
    zero_grad(set_to_none=True). NB: torch's Adagrad is element-wise (its
    state is R x D fp32 per table, allocated when the optimizer is built);
    rowshard's is row-wise (R floats). The timings also carry
    "phase_seconds_median" = forward / backward / optimizer / zero_grad.
  * 1 warm-up step, then --repeat timed steps (time.perf_counter); the
    median, min and max are reported.
  * mlookups_per_s = B*L*T / median / 1e6; gb_per_s = B*L*T*D*4 / median /
    1e9 (fp32 rows gathered); unique_rows_per_step = sum over tables of the
    distinct ids in the table's batch; peak_rss_mb = ru_maxrss of the child
    (taken before the unique count is computed); build_seconds = the time
    to construct the T tables (their N(0, 1) initialisation); the compare
    line's build_speedup is torch's over rowshard's, whose build also
    allocates its optimizer state. Extra fields: seconds_all,
    torch_version, torch_threads, fbgemm (False on Debian's 1.13 build),
    loadavg_1min_before, self_cores_busy (this process's CPU seconds per
    wall second over the timed steps) and other_cores_busy (the rest of the
    host's busy cores over the same window, from /proc/stat): the host is
    shared, and on a 2-core box a 2-thread torch step slows ~2.5x when
    another process holds a core, so rerun when other_cores_busy > ~0.2.
mode=max with op=train is refused: torch has no sparse gradient for max.

Id generation (--generate-ids; mirrors rowshard-bench's generator)
------------------------------------------------------------------
For each table t = 0..T-1, with rng = numpy.random.default_rng(seed + t):
  * uniform:     ids = rng.integers(0, R, size=B*L, dtype=int64)
                 (uniform in [0, R))
  * zipf:ALPHA:  w[k] = 1 / (k + 1)**ALPHA for k in [0, R) (float64);
                 cdf = cumsum(w) / sum(w);  u = rng.random(B*L);
                 ids = searchsorted(cdf, u, side="right"), clipped to R-1
                 (inverse CDF: the smallest k with cdf[k] > u; id 0 is the
                 hottest, hot ids are the low ids)
  * offsets = arange(B) * L (every bag has exactly L ids)
written as DIR/indices_t{t}.npy (int64, B*L) and DIR/offsets_t{t}.npy
(int64, B). The distribution matches the C++ generator; the individual ids
do not (different RNG), which is why a comparison run uses the ids the
binary writes with --write-ids.
"""

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_BENCH = REPO_ROOT / "build" / "bench" / "rowshard-bench"
TORCH_PYTHON = "/usr/bin/python3"

WORKLOAD_KEYS = ["op", "rows", "dim", "batch", "pooling_factor", "tables",
                 "mode", "dtype", "dist", "threads", "repeat"]


# Named after the script that runs (compare_dlrm.py imports them too).
SCRIPT = Path(sys.argv[0]).name


def log(*a):
    print("[%s]" % Path(SCRIPT).stem, *a, file=sys.stderr, flush=True)


def die(msg, code=2):
    print("%s: error: %s" % (SCRIPT, msg), file=sys.stderr, flush=True)
    sys.exit(code)


def parse_dist(s):
    if s == "uniform":
        return ("uniform", None)
    if s.startswith("zipf:"):
        try:
            alpha = float(s[5:])
        except ValueError:
            alpha = float("nan")
        if not (alpha > 0 and math.isfinite(alpha)):
            raise argparse.ArgumentTypeError("zipf alpha must be a positive number: " + s)
        return ("zipf", alpha)
    raise argparse.ArgumentTypeError("--dist must be uniform or zipf:ALPHA, got " + s)


def dist_arg(s):
    parse_dist(s)
    return s


def positive_int(s):
    v = int(s)
    if v <= 0:
        raise argparse.ArgumentTypeError("must be > 0: " + s)
    return v


def build_parser():
    p = argparse.ArgumentParser(
        description="rowshard-bench vs torch nn.EmbeddingBag on the same ids "
                    "(see the module docstring for details).")
    p.add_argument("--rows", type=positive_int, required=True)
    p.add_argument("--dim", type=positive_int, required=True)
    p.add_argument("--batch", type=positive_int, required=True)
    p.add_argument("--pooling-factor", type=positive_int, required=True)
    p.add_argument("--tables", type=positive_int, default=1)
    p.add_argument("--mode", choices=["sum", "mean", "max"], default="sum")
    p.add_argument("--dtype", choices=["f32", "f16", "bf16"], default="f32")
    p.add_argument("--dist", type=dist_arg, default="uniform")
    p.add_argument("--op", choices=["forward", "train"], default="forward")
    p.add_argument("--threads", type=positive_int, default=os.cpu_count() or 1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--repeat", type=positive_int, default=5)
    p.add_argument("--rounds", type=positive_int, default=1,
                   help="run the two sides this many times, alternating, and "
                        "pool their timed steps (see the module docstring)")
    p.add_argument("--bench", default=None,
                   help="rowshard-bench binary (default: %s)" % DEFAULT_BENCH)
    p.add_argument("--torch-only", action="store_true")
    p.add_argument("--ids", default=None, metavar="DIR")
    p.add_argument("--generate-ids", action="store_true")
    p.add_argument("--python", default=None,
                   help="python with torch for the child (default: this "
                        "interpreter if it has torch, else %s)" % TORCH_PYTHON)
    # internal: the child processes
    p.add_argument("--_worker", choices=["torch", "generate"], help=argparse.SUPPRESS)
    return p


# --------------------------------------------------------------------------
# id generation (child "generate"; needs numpy only)
# --------------------------------------------------------------------------

def generate_ids(args, out_dir):
    import numpy as np
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    R, B, L = args.rows, args.batch, args.pooling_factor
    kind, alpha = parse_dist(args.dist)
    cdf = None
    if kind == "zipf":
        w = 1.0 / np.power(np.arange(1, R + 1, dtype=np.float64), alpha)
        cdf = np.cumsum(w)
        cdf /= cdf[-1]
        del w
    offsets = np.arange(B, dtype=np.int64) * L
    for t in range(args.tables):
        rng = np.random.default_rng(args.seed + t)
        if kind == "uniform":
            ids = rng.integers(0, R, size=B * L, dtype=np.int64)
        else:
            u = rng.random(B * L)
            ids = np.searchsorted(cdf, u, side="right").astype(np.int64)
            np.minimum(ids, R - 1, out=ids)
        np.save(out_dir / ("indices_t%d.npy" % t), ids)
        np.save(out_dir / ("offsets_t%d.npy" % t), offsets)


# --------------------------------------------------------------------------
# torch side (child "torch")
# --------------------------------------------------------------------------

def load_ids(args, ids_dir):
    import numpy as np
    B, L = args.batch, args.pooling_factor
    expect_off = np.arange(B, dtype=np.int64) * L
    out = []
    for t in range(args.tables):
        ip = Path(ids_dir) / ("indices_t%d.npy" % t)
        op = Path(ids_dir) / ("offsets_t%d.npy" % t)
        if not ip.is_file() or not op.is_file():
            die("missing %s or %s" % (ip, op))
        ids = np.load(ip)
        off = np.load(op)
        if ids.dtype != np.int64 or ids.ndim != 1 or ids.shape[0] != B * L:
            die("%s: expected int64 1-D of %d ids, got %s %s" % (ip, B * L, ids.dtype, ids.shape))
        if off.dtype != np.int64 or off.ndim != 1 or off.shape[0] != B:
            die("%s: expected int64 1-D of %d offsets, got %s %s" % (op, B, off.dtype, off.shape))
        if not np.array_equal(off, expect_off):
            die("%s: offsets are not b*L" % op)
        if ids.size and (ids.min() < 0 or ids.max() >= args.rows):
            die("%s: ids out of [0, %d)" % (ip, args.rows))
        out.append((ids, off))
    return out


def host_cpu_seconds():
    """Busy CPU seconds of the whole host (all cores) from /proc/stat, or None."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        hz = os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError):
        return None
    idle = v[3] + (v[4] if len(v) > 4 else 0)
    steal = v[7] if len(v) > 7 else 0
    guest = sum(v[8:10]) if len(v) > 9 else 0  # already counted in user/nice
    return (sum(v) - idle - steal - guest) / hz


def torch_worker(args, ids_dir):
    import resource
    import time
    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    R, D, B, L, T = args.rows, args.dim, args.batch, args.pooling_factor, args.tables
    train = args.op == "train"

    batches = load_ids(args, ids_dir)
    inputs = [(torch.from_numpy(i), torch.from_numpy(o)) for i, o in batches]
    del batches

    torch.manual_seed(args.seed)
    build_start = time.perf_counter()
    tables = [torch.nn.EmbeddingBag(R, D, mode=args.mode, sparse=train) for _ in range(T)]
    build_seconds = time.perf_counter() - build_start

    phases = {"forward": [], "backward": [], "optimizer": [], "zero_grad": []}
    times = []
    if not train:
        def step():
            with torch.no_grad():
                for emb, (i, o) in zip(tables, inputs):
                    emb(i, o)
    else:
        g = torch.Generator().manual_seed(args.seed + 12345)
        grads = [torch.randn(B, D, generator=g) for _ in range(T)]
        opt = torch.optim.Adagrad([e.weight for e in tables], lr=0.01)

        def step(record=None):
            t0 = time.perf_counter()
            outs = [emb(i, o) for emb, (i, o) in zip(tables, inputs)]
            t1 = time.perf_counter()
            torch.autograd.backward(outs, grads)
            t2 = time.perf_counter()
            opt.step()
            t3 = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            t4 = time.perf_counter()
            del outs
            if record is not None:
                record["forward"].append(t1 - t0)
                record["backward"].append(t2 - t1)
                record["optimizer"].append(t3 - t2)
                record["zero_grad"].append(t4 - t3)

    loadavg_before = os.getloadavg()[0]
    # warm-up
    step()
    host0, cpu0, wall0 = host_cpu_seconds(), time.process_time(), time.perf_counter()
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        if train:
            step(phases)
        else:
            step()
        times.append(time.perf_counter() - t0)

    host1, cpu1, wall1 = host_cpu_seconds(), time.process_time(), time.perf_counter()
    other_cores = None
    if host0 is not None and host1 is not None and wall1 > wall0:
        other_cores = max(0.0, ((host1 - host0) - (cpu1 - cpu0)) / (wall1 - wall0))
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    unique = int(sum(torch.unique(i).numel() for i, _ in inputs))

    med = statistics.median(times)
    lookups = B * L * T
    res = {
        "engine": "torch",
        "op": args.op, "rows": R, "dim": D, "batch": B, "pooling_factor": L,
        "tables": T, "mode": args.mode, "dtype": "f32", "dist": args.dist,
        "threads": args.threads, "repeat": args.repeat,
        "seconds_median": med, "seconds_min": min(times), "seconds_max": max(times),
        "mlookups_per_s": lookups / med / 1e6,
        "gb_per_s": lookups * D * 4 / med / 1e9,
        "unique_rows_per_step": unique,
        "peak_rss_mb": round(peak_rss_mb, 1),
        "build_seconds": build_seconds,
        "seconds_all": times,
        "torch_version": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "fbgemm": "fbgemm" in torch.backends.quantized.supported_engines,
        "loadavg_1min_before": loadavg_before,
        "self_cores_busy": (cpu1 - cpu0) / (wall1 - wall0),
        "other_cores_busy": other_cores,
    }
    if train:
        res["phase_seconds_median"] = {k: statistics.median(v) for k, v in phases.items()}
        res["optimizer_impl"] = "torch.optim.Adagrad(lr=0.01), element-wise, sparse grads"
    print(json.dumps(res), flush=True)


# --------------------------------------------------------------------------
# parent (stdlib only)
# --------------------------------------------------------------------------

def pick_python(args):
    if args.python:
        return args.python
    import importlib.util
    if importlib.util.find_spec("torch") is not None and importlib.util.find_spec("numpy") is not None:
        return sys.executable
    return TORCH_PYTHON


def torch_child_env(threads):
    """The environment of a torch child: OpenMP at `threads`, and the same
    malloc settings rowshard's programs make for themselves
    (engine/malloc_tuning.h: freed blocks kept for reuse), so neither side
    pays for remapping its buffers each step."""
    return dict(os.environ, OMP_NUM_THREADS=str(threads),
                GLIBC_TUNABLES="glibc.malloc.mmap_threshold=1073741824:"
                               "glibc.malloc.trim_threshold=1073741824")


def child_argv(args, worker, ids_dir):
    a = [pick_python(args), str(Path(__file__).resolve()), "--_worker", worker,
         "--ids", str(ids_dir)]
    return a + workload_flags(args)


def workload_flags(args):
    return ["--rows", str(args.rows), "--dim", str(args.dim), "--batch", str(args.batch),
            "--pooling-factor", str(args.pooling_factor), "--tables", str(args.tables),
            "--mode", args.mode, "--dtype", args.dtype, "--dist", args.dist,
            "--op", args.op, "--threads", str(args.threads), "--seed", str(args.seed),
            "--repeat", str(args.repeat)]


def last_json_line(text, who):
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                break
    die("%s printed no JSON object on stdout; got:\n%s" % (who, text[-2000:]), 3)


def run_child(argv, who, env=None):
    log("running %s: %s" % (who, " ".join(argv)))
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=sys.stderr, text=True, env=env)
    if r.returncode != 0:
        hint = " (killed by signal %d%s)" % (-r.returncode, ", out of memory?" if r.returncode == -9 else "") \
            if r.returncode < 0 else ""
        die("%s failed with exit status %d%s" % (who, r.returncode, hint), 3)
    return r.stdout


def pool_rounds(results):
    """One side's result over all its rounds: the first round's fields, with
    the timings recomputed over every round's timed steps, the largest peak
    RSS, and each round's own median kept for the record."""
    if len(results) == 1:
        return results[0]
    pooled = dict(results[0])
    times = [t for r in results for t in r["seconds_all"]]
    med = statistics.median(times)
    lookups = pooled["batch"] * pooled["pooling_factor"] * pooled["tables"]
    pooled.update({
        "rounds": len(results),
        "seconds_median": med, "seconds_min": min(times), "seconds_max": max(times),
        "seconds_all": times,
        "seconds_median_per_round": [r["seconds_median"] for r in results],
        "mlookups_per_s": lookups / med / 1e6,
        "gb_per_s": pooled["gb_per_s"] * pooled["seconds_median"] / med,
        "peak_rss_mb": max(r["peak_rss_mb"] for r in results),
        "build_seconds": statistics.median(r["build_seconds"] for r in results),
    })
    if "other_cores_busy" in pooled:
        busy = [r["other_cores_busy"] for r in results if r.get("other_cores_busy") is not None]
        pooled["other_cores_busy"] = max(busy) if busy else None
    if "phase_seconds_median" in pooled:
        pooled["phase_seconds_median_per_round"] = [r["phase_seconds_median"] for r in results]
    return pooled


def main():
    p = build_parser()
    args = p.parse_args()

    if args._worker == "generate":
        generate_ids(args, args.ids)
        return
    if args._worker == "torch":
        torch_worker(args, args.ids)
        return

    if args.op == "train" and args.mode == "max":
        die("torch nn.EmbeddingBag has no sparse gradient for mode=max; "
            "op=train is only compared for mode sum|mean")
    if args.torch_only and not (args.ids or args.generate_ids):
        die("--torch-only needs --ids DIR (ids written by rowshard-bench --write-ids) or --generate-ids")

    bench = Path(args.bench) if args.bench else DEFAULT_BENCH
    run_rowshard = not args.torch_only
    if run_rowshard and not (bench.is_file() and os.access(bench, os.X_OK)):
        if args.generate_ids:
            log("WARNING: rowshard binary %s not found; running the torch side alone "
                "on generated ids (no comparison)" % bench)
            run_rowshard = False
        else:
            die("rowshard benchmark binary not found or not executable: %s\n"
                "  build it (cmake --build build --target rowshard-bench), pass --bench PATH,\n"
                "  or use --torch-only --generate-ids to run the torch side alone." % bench)

    tmp = None
    try:
        if args.ids:
            ids_dir = Path(args.ids).resolve()
        else:
            tmp = tempfile.mkdtemp(prefix="rowshard-ids-")
            ids_dir = Path(tmp)

        env = torch_child_env(args.threads)
        rowshard_rounds, torch_rounds = [], []
        for r in range(args.rounds):
            if run_rowshard:
                ids_dir.mkdir(parents=True, exist_ok=True)
                out = run_child([str(bench)] + workload_flags(args) + ["--write-ids", str(ids_dir)],
                                "rowshard-bench (round %d of %d)" % (r + 1, args.rounds))
                rowshard_rounds.append(last_json_line(out, "rowshard-bench"))
                for k in WORKLOAD_KEYS:
                    got = rowshard_rounds[-1].get(k)
                    if got is not None and str(got) != str(getattr(args, k)):
                        log("WARNING: rowshard reports %s=%r, asked for %r" % (k, got, getattr(args, k)))
            elif args.generate_ids and r == 0:
                run_child(child_argv(args, "generate", ids_dir), "id generator")
            torch_rounds.append(last_json_line(
                run_child(child_argv(args, "torch", ids_dir),
                          "torch side (round %d of %d)" % (r + 1, args.rounds), env),
                "torch side"))
        rowshard = pool_rounds(rowshard_rounds) if rowshard_rounds else None
        torch_res = pool_rounds(torch_rounds)
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)

    if rowshard is not None:
        print(json.dumps(rowshard), flush=True)
    print(json.dumps(torch_res), flush=True)
    if rowshard is not None:
        cmp = {"compare": "rowshard_vs_torch",
               "speedup": torch_res["seconds_median"] / rowshard["seconds_median"],
               "rowshard_seconds_median": rowshard["seconds_median"],
               "torch_seconds_median": torch_res["seconds_median"]}
        cmp["build_speedup"] = torch_res["build_seconds"] / rowshard["build_seconds"]
        if rowshard.get("peak_rss_mb") and torch_res.get("peak_rss_mb"):
            cmp["rss_ratio"] = rowshard["peak_rss_mb"] / torch_res["peak_rss_mb"]
        for k in WORKLOAD_KEYS + ["seed"]:
            cmp[k] = getattr(args, k)
        cmp["torch_dtype"] = "f32"
        print(json.dumps(cmp), flush=True)


if __name__ == "__main__":
    main()
