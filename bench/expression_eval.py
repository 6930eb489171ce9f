"""Benchmark evaluating one expression with the DSL evaluator against pandas.

Expression: ``rank(ts_mean(returns, 20)) - rank(ts_std(returns, 60)) + ts_rank(close, 10)``
on (a) the packaged sp500-20 data (full history), (b) a synthetic 500 x 2,520
panel and (c) a synthetic 3,000 x 5,000 panel, compared in the same run with
a typical pandas implementation (checked to give the same numbers). It also
times one-parameter mutations of the already evaluated candidate, drawn by
the generator's own parameter operator, with and without the evaluation cache.

Run from the repository root: ``python bench/expression_eval.py [--sizes a,b,c]``.
Results go to ``bench/results/expression_eval.json`` and ``.md`` with the machine.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import resource
import statistics
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numba
import numpy as np
import pandas as pd
from _machine import timed
from _memory import peak_rss_mb

from stratloop.data import Panel, load_dataset, synthetic_panel
from stratloop.factors import EvalCache, Expr, Limits, default_library, evaluate, mutate, parse
from stratloop.spec import Strategy, TopN

EXPRESSION = "rank(ts_mean(returns, 20)) - rank(ts_std(returns, 60)) + ts_rank(close, 10)"
MUTATION_SEED = 11
WINDOWED = ("ts_mean", "ts_std", "ts_rank")
CHILDREN = {"a": 30, "b": 24, "c": 12}
CACHE_MB = {"a": 256, "b": 256, "c": 1024}
"""Each size's cache bound: the default ``loop.eval_cache_mb``; c needs more (a panel is 120 MB)."""
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
    "  numba's import (~0.3 s) included. Panels under 100,000 values never import",
    "  numba (tested in a subprocess); size a uses the compiled rolling moments",
    "  only (below).",
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
    "- Measurement of the mutation (this version): the children are the generator's",
    "  parameter operator's own draws (seed 11: one of the three windows, picked",
    "  uniformly, moved by 10-50 %), each timed right after its parent without and",
    "  with a cache, the two paths alternating which goes first. The cache is the one",
    "  a running loop has: kept across children and refilled to its bound before",
    "  each parent (256 MiB, the default `loop.eval_cache_mb`; 1 GiB on c, whose",
    "  120 MB panels would leave the default two entries), so new entries take the",
    "  memory of evicted ones. The previous version gave each round a new cache",
    "  holding only the parent, so the cached child always needed fresh pages for",
    "  the arrays it keeps while the uncached child reused the parent's freed ones",
    "  (cut 0.44 / 0.43 / 0.50 for ts_mean 20 -> 21). That state is still measured",
    "  (fresh-cache column): it is a worker's first candidates, while its cache",
    "  grows. On c the child's 240 MB of new arrays then get fresh huge pages (numpy",
    "  advises them for arrays over 4 MB) with the 300-500 ms stalls described",
    "  above, so the cache costs more than it saves until it reaches its bound",
    "  (about eight candidates at 1 GiB).",
    "- Per window on a: a ts_std window change recomputes ts_std and a rank. With",
    "  numpy's ts_std (2.2 ms on 8,313 x 20, two thirds of it in np.cumsum's",
    "  sequential loop at ~3.3 ns per value, whatever the layout) that was about",
    "  half of the uncached child (cut 0.46 in the first run of this version). The",
    "  rolling mean and std now use the compiled running sums from 100,000 values",
    "  (`_COMPILED_MOMENTS`): 0.8 / 1.1 ms instead of 1.1 / 2.2 ms; a run on the",
    "  embedded data pays numba's import once per worker (~0.4 s; compiling these",
    "  two kernels on a new machine ~1.9 s).",
)


def pandas_typical(close: pd.DataFrame) -> pd.DataFrame:
    """The expression as a pandas user writes it."""
    returns = close.pct_change(fill_method=None)
    momentum = returns.rolling(20).mean().rank(axis=1, pct=True)
    volatility = returns.rolling(60).std().rank(axis=1, pct=True)
    position = close.rolling(10).rank(pct=True)
    return momentum - volatility + position


def wall_ms(call: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Median and best milliseconds (see :func:`_machine.timed`).

    The machine is shared, so the best call shows the code's own cost and the
    median what a busy machine gives.
    """
    result = timed(call, repeat)
    return result["median_ms"], result["best_ms"]


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


def mutation_children(count: int) -> list[tuple[Expr, str]]:
    """``count`` one-parameter mutations of the expression, drawn by the generator's own operator.

    ``mutate(..., operator="parameter")`` picks one of the three windows
    uniformly and moves it by 10-50 %, as the factor-graph generator does;
    the seed makes the draws the same in every run.
    """
    parent = Strategy(expression=EXPRESSION, portfolio=TopN(n=5))
    rng = np.random.default_rng(MUTATION_SEED)
    children = []
    for _ in range(count):
        child, lineage = mutate(
            parent,
            rng,
            operator="parameter",
            library=default_library(),
            limits=Limits(),
            fields=frozenset({"close"}),
        )
        change = f"{lineage.params['operator']} {lineage.params['old']}->{lineage.params['new']}"
        children.append((parse(child.expression), change))
    return children


def fill(cache: EvalCache | None, panel: Panel, serial: Iterator[int], cache_bytes: int) -> None:
    """Evaluate subexpressions seen nowhere else until ``cache`` holds nothing older.

    This is where a running loop's cache is after its first candidates: at
    its bound, each new entry evicting the least recently used one. Without a
    cache the same evaluations run, so both paths see the same work between
    timed calls.
    """
    entries = cache_bytes // panel.close.nbytes + 1
    for _ in range(entries):
        evaluate(parse(f"clip(close, 0, {next(serial)})"), panel, cache=cache)


def timed_child(
    parent: Expr, child: Expr, panel: Panel, cache: EvalCache | None
) -> tuple[float, int]:
    """Milliseconds and minor page faults of ``child`` right after ``parent`` was evaluated."""
    evaluate(parent, panel, cache=cache)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    start = time.perf_counter()
    evaluate(child, panel, cache=cache)
    elapsed = (time.perf_counter() - start) * 1000.0
    return elapsed, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults


def mutation_runs(panel: Panel, count: int, cache_bytes: int) -> dict[str, list[Any]]:
    """Each child timed without and with a cache, in two cache states.

    ``bound``: a cache kept across children and refilled to its bound before
    each parent (a loop that has run a while). ``fresh``: a new cache holding
    only the parent. Without a cache the parent is evaluated too (untimed),
    so both paths time the same child after the same parent. The two paths
    alternate which goes first; one warm-up child is dropped.
    """
    parent = parse(EXPRESSION)
    serial = itertools.count(1000)
    kept = EvalCache(cache_bytes)
    runs: dict[str, list[Any]] = {"change": []}
    children = mutation_children(count + 1)
    for index, (child, change) in enumerate(children):
        sample: dict[str, tuple[float, int]] = {}
        for cached in (False, True) if index % 2 == 0 else (True, False):
            fill(kept if cached else None, panel, serial, cache_bytes)
            sample[f"bound_{'cached' if cached else 'uncached'}"] = timed_child(
                parent, child, panel, kept if cached else None
            )
            fresh = EvalCache(cache_bytes) if cached else None
            sample[f"fresh_{'cached' if cached else 'uncached'}"] = timed_child(
                parent, child, panel, fresh
            )
            del fresh
        if index == 0:
            continue
        runs["change"].append(change)
        for name, (elapsed, faults) in sample.items():
            runs.setdefault(f"{name}_ms", []).append(round(elapsed, 3))
            runs.setdefault(f"{name}_faults", []).append(faults)
    return runs


def cache_cuts(runs: dict[str, list[Any]], state: str) -> dict[str, float]:
    """1 - cached / uncached: over all children (mean times), per mutated window (medians).

    ``<operator>_children`` says how many children changed that window.
    """
    cached, uncached = runs[f"{state}_cached_ms"], runs[f"{state}_uncached_ms"]
    cuts = {"all": round(1.0 - sum(cached) / sum(uncached), 2)}
    for operator in WINDOWED:
        picked = [i for i, change in enumerate(runs["change"]) if change.startswith(operator)]
        if picked:
            warm = statistics.median(cached[i] for i in picked)
            cold = statistics.median(uncached[i] for i in picked)
            cuts[operator] = round(1.0 - warm / cold, 2)
            cuts[f"{operator}_children"] = len(picked)
    return cuts


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
    numpy_ms, numpy_best = wall_ms(lambda: evaluate(EXPRESSION, panel), repeat)
    pandas_ms, pandas_best = wall_ms(lambda: pandas_typical(frame), max(1, repeat // 3))
    dsl_cpu = cpu_ms(lambda: evaluate(EXPRESSION, panel), repeat)
    pandas_cpu = cpu_ms(lambda: pandas_typical(frame), max(1, repeat // 3))
    runs = mutation_runs(panel, CHILDREN[size], CACHE_MB[size] * 2**20)
    bound, fresh = cache_cuts(runs, "bound"), cache_cuts(runs, "fresh")
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
        "cache_mb": CACHE_MB[size],
        "mutation_uncached_ms": round(statistics.mean(runs["bound_uncached_ms"]), 2),
        "mutation_cached_ms": round(statistics.mean(runs["bound_cached_ms"]), 2),
        "cache_cut": bound["all"],
        "cache_cut_per_operator": bound,
        "fresh_cache_cut": fresh["all"],
        "fresh_cache_cut_per_operator": fresh,
        "mutation_faults_uncached": statistics.median(runs["bound_uncached_faults"]),
        "mutation_faults_cached": statistics.median(runs["bound_cached_faults"]),
        "fresh_faults_uncached": statistics.median(runs["fresh_uncached_faults"]),
        "fresh_faults_cached": statistics.median(runs["fresh_cached_faults"]),
        "mutation_runs": runs,
        "peak_mb": round(peak_mb(panel), 1),
        "peak_rss_mb": round(peak_rss_mb(lambda: evaluate(EXPRESSION, panel)), 1),
        "same_nan_mask_as_pandas": same_nan,
        "max_abs_diff_vs_pandas": max_diff,
        "meets_time_target": numpy_ms < TARGET_MS[size],
        "meets_x_pandas_target": pandas_ms / numpy_ms >= TARGET_X_PANDAS,
        "meets_cache_target": bound["all"] >= 0.5,
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


def _cuts(cuts: dict[str, float]) -> str:
    per_operator = " / ".join(
        f"{cuts[name]} ({cuts[f'{name}_children']})" if name in cuts else "-" for name in WINDOWED
    )
    return f"{cuts['all']}; {per_operator}"


def write(rows: list[dict[str, Any]], info: dict[str, object]) -> None:
    """Save the JSON record and the Markdown table."""
    RESULTS.mkdir(exist_ok=True)
    mutation = {"operator": "parameter", "seed": MUTATION_SEED, "children": CHILDREN}
    record = {"expression": EXPRESSION, "mutation": mutation, "machine": info, "results": rows}
    (RESULTS / "expression_eval.json").write_text(json.dumps(record, indent=2) + "\n")
    header = (
        "| size | shape | DSL ms (best) | pandas ms (best) | target ms | x pandas (best) "
        "| DSL / pandas CPU ms | peak MB (RSS) | max diff vs pandas | cache MB "
        "| mutation ms, uncached / cached "
        "| cache cut; by window: ts_mean / ts_std / ts_rank (children) "
        "| fresh-cache cut (same) | faults, uncached / cached (fresh cache) |"
    )
    lines = [
        "# expression_eval: one expression, DSL evaluator vs pandas",
        "",
        f"Expression: `{EXPRESSION}`; mutations: the generator's parameter operator",
        f"(seed {MUTATION_SEED}; {CHILDREN} children per size after one warm-up child).",
        "",
        "Machine: " + ", ".join(f"{key} {value}" for key, value in info.items()),
        "",
        header,
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['size']} | {r['shape']} | {r['dsl_ms']} ({r['dsl_best_ms']}) "
        f"| {r['pandas_ms']} ({r['pandas_best_ms']}) | {r['target_ms']} "
        f"| {r['x_pandas']} ({r['x_pandas_best']}) | {r['dsl_cpu_ms']} / {r['pandas_cpu_ms']} "
        f"| {r['peak_mb']} ({r['peak_rss_mb']}) | {r['max_abs_diff_vs_pandas']:.1e} "
        f"| {r['cache_mb']} "
        f"| {r['mutation_uncached_ms']} / {r['mutation_cached_ms']} "
        f"| {_cuts(r['cache_cut_per_operator'])} | {_cuts(r['fresh_cache_cut_per_operator'])} "
        f"| {r['mutation_faults_uncached']} / {r['mutation_faults_cached']} "
        f"({r['fresh_faults_uncached']} / {r['fresh_faults_cached']}) |"
        for r in rows
    ]
    lines += [
        "",
        "Times are medians (best in parentheses) after one warm-up call; the machine is",
        "shared, see its load average above. Targets: DSL under 10 / 80 / 500 ms,",
        "at least 4x faster than pandas, and the cache cutting a one-parameter mutation's",
        "time by at least half. Peak MB is tracemalloc's peak during one evaluation;",
        "RSS is the whole process's resident high-water mark during it (interpreter,",
        "libraries and the panel included; target for c: under 2 GB).",
        "",
        "Mutation: each child of the generator's parameter operator is timed right",
        "after its parent, once without a cache and once with the cache a running loop",
        "has (kept across children, refilled to its bound with other subexpressions",
        "before each parent, so new entries evict old ones); mean times; the cut is",
        "1 - cached / uncached over all children, per mutated window from medians.",
        "The fresh-cache cut is the same child with a new cache that holds only its",
        "parent (the first mutation of a run). Faults are minor page faults (medians).",
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
