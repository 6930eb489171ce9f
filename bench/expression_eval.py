"""Benchmark evaluating one expression with the DSL evaluator against pandas.

Expression: ``rank(ts_mean(returns, 20)) - rank(ts_std(returns, 60)) + ts_rank(close, 10)``
on (a) the packaged sp500-20 data (full history), (b) a synthetic 500 x 2,520
panel and (c) a synthetic 3,000 x 5,000 panel, compared in the same run with
a typical pandas implementation (checked to give the same numbers). It also
times a one-parameter mutation (``ts_mean(returns, 21)``) of the already
evaluated candidate with and without the shared evaluation cache.

Run from the repository root: ``python bench/expression_eval.py [--sizes a,b,c]``.
Results go to ``bench/results/expression_eval.json`` and ``.md`` with the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numba
import numpy as np
import pandas as pd

from stratloop.backtest import Panel
from stratloop.data import load_dataset, synthetic_panel
from stratloop.factors import EvalCache, evaluate, parse

EXPRESSION = "rank(ts_mean(returns, 20)) - rank(ts_std(returns, 60)) + ts_rank(close, 10)"
MUTATED = "rank(ts_mean(returns, 21)) - rank(ts_std(returns, 60)) + ts_rank(close, 10)"
TARGET_MS = {"a": 10.0, "b": 80.0, "c": 500.0}
TARGET_X_PANDAS = 4.0
RESULTS = Path(__file__).parent / "results"
NOTES = (
    "## What was measured and changed (numbers from profiling runs on this machine)",
    "",
    "- Fresh memory: every node's output was a new array freed at the end of the",
    "  evaluation, so each call took ~2,570 page faults on size a (~2 us each on this",
    "  VM, ~5 ms of 20). The evaluator now drops an intermediate after its last reader",
    "  and lets `+ - * /` write into a spare operand: 876 faults, 20 -> 12 ms. With",
    "  glibc's trim/mmap thresholds raised (an experiment only, not shipped: it is a",
    "  process-wide setting) the same evaluation takes ~10 ms with no faults.",
    "- Narrow rank (<= 32 assets): the pairwise comparison now runs on a transposed",
    "  block of dates, so each comparison is one long contiguous loop (a row of 20",
    "  assets made numpy's inner loop 20 long): 3.9 -> 2.2 ms on 8,313 x 20.",
    "- Cache: only operator calls and `returns` are stored; infix, negation and `not`",
    "  are recomputed from cached operands (cheaper than a fresh cached copy) and stay",
    "  free for in-place reuse. Cache cut on size a 0.35 -> 0.49.",
    "- Wide rank, tried and not kept: one `np.sort` of uint64 keys packing the",
    "  order-preserving value bits with the column index (ties resolved on the",
    "  truncated keys) gave 107 vs 115 ms on 1,000 x 3,000 and 31.7 vs 33.9 ms on",
    "  2,520 x 500: this numpy build's sort runs at ~50 ns per element on 1M uint64",
    "  (scalar speed, although AVX512_ICL is reported), so a sort is not much cheaper",
    "  than the argsort it replaces. Rows of 3,000 cost ~20 ns per value to order",
    "  either way; with numpy sorts alone size c stayed far above its 500 ms target.",
    "- Earlier attempts (previous owner): NaN-free argsort keys (kept), comparison-count",
    "  ts_rank (kept), threads for independent subtrees on panels of >= 1M values (kept).",
    "- Compiled kernels (numba 0.68.1; `factors/_compiled.py`, `factors/_radix_rank.py`),",
    "  used from 1M panel values on (`COMPILED_SIZE`: sizes b and c), bit-identical",
    "  to the numpy kernels (same floating-point operations in the same order, no",
    "  fastmath; tested with hypothesis), so the max diff vs pandas stays 0. Per",
    "  kernel on 5,000 x 3,000, wall ms, numpy -> numba (load average ~1.5):",
    "  cross-sectional rank 493 -> ~80 (2 threads, row blocks written straight into",
    "  the result; ~143 ms on one thread: per row",
    "  branch-free order keys 8, packing 12, LSD radix sort of `prefix << 32 | column`",
    "  words on the 22 bits below the highest varying key bit in 2 passes of 11 bits",
    "  ~60, exact finish by insertion sort (a heapsort of the row past 8 moves per",
    "  value, so n log n at worst) ~23, average ranks ~40; 8-, 9-, 10- and 12-bit",
    "  digits measured slower or equal; a first version moving keys and columns",
    "  separately in 3 passes took ~225), ts_std(60) 195 -> 43 and ts_mean(20)",
    "  80 -> 37 (one pass with running sums over 256-column strips, columns split",
    "  over 2 threads), ts_rank(10) 182 -> 38. Two threads give a rank only ~1.6x",
    "  (CPU time rises from ~143 to ~195 ms: the two vCPUs share caches).",
    "- Fresh memory on size c: an evaluation now and then spends 300-500 ms more in",
    "  the kernel (getrusage system time, same number of page faults, no compaction",
    "  in /proc/vmstat) while its new 120 MB arrays get their pages; it hits the",
    "  cached mutation more often than the uncached evaluation (the cache keeps every",
    "  array, so it needs more fresh pages; e.g. cached 146-163 ms with 2 of 8 runs at",
    "  450-520), so the mutation is measured 7 times and the best is shown too.",
    "- Size a (numpy kernels): the narrow pairwise rank now compares each pair once",
    "  (the partner's count gets `2 - more`): 2.33 -> 1.71 ms per rank; the numpy",
    "  ts_rank counts in uint8 for windows up to 128 (a quarter of the memory traffic",
    "  of int32): 1.39 -> 0.83 ms. Evaluation ~10.5 -> ~8.6 ms.",
    "- Compile cost: `@njit(cache=True, nogil=True)`, inputs always passed read-only",
    "  so each kernel compiles once. Measured with an empty NUMBA_CACHE_DIR: the first",
    "  large evaluation on a machine takes 4.0 s (7.3 s before the radix passes were",
    "  written out and `np.argsort` replaced by a heapsort: numba compiled those",
    "  slowly); `pytest tests/factors` 11.5 s cold vs 6.9 s warm, i.e. +4.6 s once",
    "  per machine. Later processes load the cache: first large evaluation 0.44 s,",
    "  numba's import (~0.3 s) included. Panels under 1M values (the sp500-20 loop",
    "  of `make run`, size a) never import numba (tested in a subprocess), which is",
    "  why size a keeps the numpy kernels.",
    "- Cached mutation, profiled per node (serial, size a, medians): the child",
    "  recomputes ts_mean(21) 1.3 ms, its rank 2.8 ms (1.7 ms of ranking plus ~500",
    "  page faults for its output and block copy) and the two infix nodes; typecheck",
    "  and graph building take 0.04 ms, cache lookups are dict hits. What is left",
    "  above the kernels is fresh memory: the cached path needs new pages for the two",
    "  arrays it keeps (~650 faults, ~1.3 ms), the uncached path ~870. Size b: warm",
    "  ~17.5 ms = ts_mean 2.4 + rank 10.1 + ~4.4 ms of fresh pages for the infix",
    "  result. The cut is bounded by the expression itself: the child keeps one of",
    "  the two ranks, the most expensive kernel, so it can save at most",
    "  pct_change + ts_std + rank + ts_rank of the uncached run.",
    "- Tried and not kept: a pool in the cache of dropped result buffers (reused",
    "  when the reference count showed nobody held them) for infix outputs. It",
    "  only moves which allocation gets recycled memory: holding the parent's",
    "  result until the child's `-` node made ts_mean(21) and its rank take fresh",
    "  pages instead (in a profiling script: size a faults 649 -> 906, cut 0.55 ->",
    "  0.49). Smaller pairwise",
    "  rank blocks (2^15, 2^16 values) cut a few faults but cost more per block.",
    "- Measurement: both mutation paths alternate which runs first in each round",
    "  (a dropped cache frees its arrays right before the next path), 9+ rounds,",
    "  medians; per-run times and minor faults are in the JSON record. In this",
    "  run the uncached child takes no page faults on size a (the parent's freed",
    "  arrays are recycled) while the cached child takes 649 in every run (the two",
    "  arrays it keeps need new pages): that, ~1.3 ms, is the gap to the target on",
    "  a. On c the cached child takes ~150-170 ms when it follows the uncached path",
    "  and 520-660 ms in the rounds where it runs first, right after a dropped cache",
    "  returned its 120 MB arrays (the fresh-memory spike above); the median sits on",
    "  the 0.5 line. Target not met on a and b (0.44, 0.43), borderline on c.",
)


def pandas_typical(close: pd.DataFrame) -> pd.DataFrame:
    """The expression as a pandas user writes it."""
    returns = close.pct_change(fill_method=None)
    momentum = returns.rolling(20).mean().rank(axis=1, pct=True)
    volatility = returns.rolling(60).std().rank(axis=1, pct=True)
    position = close.rolling(10).rank(pct=True)
    return momentum - volatility + position


def timed(call: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Median and best milliseconds over ``repeat`` calls after one warm-up call.

    The machine is shared, so the best call shows the code's own cost and the
    median what a busy machine gives.
    """
    call()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        samples.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(samples), min(samples)


def cpu_ms(call: Callable[[], object], repeat: int) -> float:
    """Median CPU milliseconds of the process (all its threads) per call.

    Less sensitive than wall time to other processes on a shared machine;
    with threads it can exceed the wall time.
    """
    samples = []
    for _ in range(repeat):
        start = time.process_time()
        call()
        samples.append((time.process_time() - start) * 1000.0)
    return statistics.median(samples)


def panel_for(size: str) -> Panel:
    """The benchmark panel of one size."""
    if size == "a":
        return load_dataset("sp500-20")
    n_assets, n_dates = {"b": (500, 2520), "c": (3000, 5000)}[size]
    return synthetic_panel(n_assets, n_dates, seed=7)


def mutation_runs(panel: Panel, repeat: int) -> dict[str, list[float]]:
    """Per-run times (ms) and minor page faults of the mutated candidate, without and with a cache.

    Both paths are measured the same way: a fresh cache (or none), the parent
    evaluated, then the child timed. The two paths alternate which goes first
    in each round, so the memory freed by the previous round (a dropped cache
    returns its arrays to the system) does not always land on the same path;
    the first round is a warm-up and is dropped.
    """
    parent, child = parse(EXPRESSION), parse(MUTATED)
    runs: dict[str, list[float]] = {
        "cold_ms": [],
        "warm_ms": [],
        "cold_faults": [],
        "warm_faults": [],
    }
    for round_ in range(repeat + 1):
        for cached in (False, True) if round_ % 2 == 0 else (True, False):
            cache = EvalCache(max_bytes=2**31) if cached else None
            evaluate(parent, panel, cache=cache)
            faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            start = time.perf_counter()
            evaluate(child, panel, cache=cache)
            elapsed = (time.perf_counter() - start) * 1000.0
            faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
            del cache
            if round_:
                name = "warm" if cached else "cold"
                runs[f"{name}_ms"].append(round(elapsed, 2))
                runs[f"{name}_faults"].append(faults)
    return runs


def peak_mb(panel: Panel) -> float:
    """Peak traced memory of one evaluation, in MB (the panel itself excluded)."""
    tracemalloc.start()
    evaluate(EXPRESSION, panel)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20


def run_size(size: str) -> dict[str, object]:
    """Every measurement for one size."""
    panel = panel_for(size)
    repeat = {"a": 30, "b": 10, "c": 3}[size]
    frame = pd.DataFrame(panel.close)
    ours = evaluate(EXPRESSION, panel)
    theirs = pandas_typical(frame).to_numpy()
    same_nan = bool(np.array_equal(np.isnan(ours), np.isnan(theirs)))
    max_diff = float(np.nanmax(np.abs(ours - theirs)))
    numpy_ms, numpy_best = timed(lambda: evaluate(EXPRESSION, panel), repeat)
    pandas_ms, pandas_best = timed(lambda: pandas_typical(frame), max(1, repeat // 3))
    dsl_cpu = cpu_ms(lambda: evaluate(EXPRESSION, panel), repeat)
    pandas_cpu = cpu_ms(lambda: pandas_typical(frame), max(1, repeat // 3))
    runs = mutation_runs(panel, max(repeat, 9))
    cold_ms, warm_ms = statistics.median(runs["cold_ms"]), statistics.median(runs["warm_ms"])
    cold_best, warm_best = min(runs["cold_ms"]), min(runs["warm_ms"])
    return {
        "size": size,
        "shape": f"{panel.shape[0]} x {panel.shape[1]}",
        "dsl_ms": round(numpy_ms, 2),
        "dsl_best_ms": round(numpy_best, 2),
        "pandas_ms": round(pandas_ms, 1),
        "pandas_best_ms": round(pandas_best, 1),
        "target_ms": TARGET_MS[size],
        "x_pandas": round(pandas_ms / numpy_ms, 1),
        "x_pandas_best": round(pandas_best / numpy_best, 1),
        "dsl_cpu_ms": round(dsl_cpu, 2),
        "pandas_cpu_ms": round(pandas_cpu, 1),
        "mutation_uncached_ms": round(cold_ms, 2),
        "mutation_cached_ms": round(warm_ms, 2),
        "cache_cut": round(1.0 - warm_ms / cold_ms, 2),
        "cache_cut_best": round(1.0 - warm_best / cold_best, 2),
        "mutation_faults_uncached": statistics.median(runs["cold_faults"]),
        "mutation_faults_cached": statistics.median(runs["warm_faults"]),
        "mutation_runs": runs,
        "peak_mb": round(peak_mb(panel), 1),
        "same_nan_mask_as_pandas": same_nan,
        "max_abs_diff_vs_pandas": max_diff,
        "meets_time_target": numpy_ms < TARGET_MS[size],
        "meets_x_pandas_target": pandas_ms / numpy_ms >= TARGET_X_PANDAS,
        "meets_cache_target": warm_ms <= 0.5 * cold_ms,
    }


def machine() -> dict[str, object]:
    """What the numbers were measured on (load average included: the machine is shared)."""
    cpu = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "numba": numba.__version__,
        "platform": platform.platform(),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


def write(rows: list[dict[str, object]], info: dict[str, object]) -> None:
    """Save the JSON record and the Markdown table."""
    RESULTS.mkdir(exist_ok=True)
    record = {"expression": EXPRESSION, "mutation": MUTATED, "machine": info, "results": rows}
    (RESULTS / "expression_eval.json").write_text(json.dumps(record, indent=2) + "\n")
    header = (
        "| size | shape | DSL ms (best) | pandas ms (best) | target ms | x pandas (best) "
        "| DSL / pandas CPU ms | mutation ms | mutation cached ms | cache cut (best) | peak MB "
        "| max diff vs pandas | mutation faults (uncached / cached) |"
    )
    lines = [
        "# expression_eval: one expression, DSL evaluator vs pandas",
        "",
        f"Expression: `{EXPRESSION}`; mutation: `ts_mean(returns, 20)` -> 21.",
        "",
        "Machine: " + ", ".join(f"{key} {value}" for key, value in info.items()),
        "",
        header,
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['size']} | {r['shape']} | {r['dsl_ms']} ({r['dsl_best_ms']}) "
        f"| {r['pandas_ms']} ({r['pandas_best_ms']}) | {r['target_ms']} "
        f"| {r['x_pandas']} ({r['x_pandas_best']}) | {r['dsl_cpu_ms']} / {r['pandas_cpu_ms']} "
        f"| {r['mutation_uncached_ms']} | {r['mutation_cached_ms']} "
        f"| {r['cache_cut']} ({r['cache_cut_best']}) | {r['peak_mb']} "
        f"| {r['max_abs_diff_vs_pandas']:.1e} "
        f"| {r['mutation_faults_uncached']} / {r['mutation_faults_cached']} |"
        for r in rows
    ]
    lines += [
        "",
        "Times are medians (best in parentheses) after one warm-up call; the machine is",
        "shared, see its load average above. Targets: DSL under 10 / 80 / 500 ms,",
        "at least 4x faster than pandas, and the cache cutting a one-parameter mutation's",
        "time by at least half. Peak MB is tracemalloc's peak during one evaluation.",
    ]
    lines += ["", *NOTES]
    (RESULTS / "expression_eval.md").write_text("\n".join(lines) + "\n")


def main() -> None:
    """Run the requested sizes and record the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="a,b,c", help="comma-separated subset of a,b,c")
    args = parser.parse_args()
    info = machine()
    rows = []
    for size in args.sizes.split(","):
        row = run_size(size.strip())
        rows.append(row)
        print(json.dumps(row))
    write(rows, info)


if __name__ == "__main__":
    main()
