"""A large universe: loading a long Parquet file, a memory-mapped store, and the loop on it.

Run from the repository root::

    python bench/large_universe.py                   # 3,000 x 5,000, 1,000 iterations
    python bench/large_universe.py --iterations 100  # a shorter loop, same panel

Writes ``bench/results/large_universe.json`` and ``.md``.

1. Loading the panel from a long Parquet file (about 12 million rows): the
   plain alternative (``pandas.read_parquet`` and a pivot per field) against
   ``load_panel`` (pyarrow column-wise, scattered into the panel) and against
   opening a store written by ``stratloop data import`` (memory-mapped, every
   digest checked). Each in a fresh process, so its peak resident memory is
   its own.
2. The loop (factor graph only) on the store with 1 and 2 workers:
   iterations per second, and per worker the peak resident set (RSS) and the
   peak proportional set (PSS: shared pages divided among the processes that
   map them). With the store the panel's pages are shared, so PSS per worker
   falls as workers are added; with the Parquet file each worker parses and
   holds its own copy (measured the same way, fewer iterations).
3. One candidate's cost: the first twelve candidates of that run (the
   loop's seeded draws), evaluated in order by a fresh worker evaluator in a
   fresh process, twice, with a digest of the results. ``--before-src`` times
   another checkout's ``src`` the same way, interleaved with this one, so
   both see the same load, and checks that both give the same results::

       git archive <commit> src | tar -x -C /tmp/before
       python bench/large_universe.py --candidates-only --before-src /tmp/before/src \
           --before-label <commit>
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from _machine import describe

import stratloop
from stratloop.config.models import StratloopConfig
from stratloop.data import synthetic_panel, write_panel_store

RESULTS = Path(__file__).parent / "results"

_SETUP = "import pandas as pd, pyarrow.parquet\nfrom stratloop.data import load_panel\n"
_LOADERS = {
    "pandas read_parquet + pivot": (
        "f = pd.read_parquet(PATH); "
        "p = f.pivot(index='date', columns='ticker', values='close').to_numpy()"
    ),
    "load_panel(parquet)": "p = load_panel(PATH)",
    "open store (digests checked)": "p = load_panel(STORE)",
}
"""Each loader's statement, timed after ``_SETUP`` (imports are not counted)."""


def _long_parquet(n_assets: int, n_dates: int, path: Path) -> int:
    panel = synthetic_panel(n_assets, n_dates, seed=11)
    listed = np.isfinite(panel.close).ravel()
    frame = pd.DataFrame(
        {
            "date": np.repeat(panel.dates, n_assets)[listed],
            "ticker": pd.Categorical.from_codes(
                np.tile(np.arange(n_assets), n_dates)[listed], categories=list(panel.assets)
            ),
            "close": panel.close.ravel()[listed],
        }
    )
    frame.to_parquet(path, row_group_size=1_000_000)
    return len(frame)


def _load(label: str, parquet: Path, store: Path) -> dict[str, float]:
    code = _LOADERS[label].replace("PATH", repr(str(parquet))).replace("STORE", repr(str(store)))
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent across exec.
    script = (
        "import time, re\n"
        f"{_SETUP}"
        "t = time.perf_counter()\n"
        f"{code}\n"
        "s = time.perf_counter() - t\n"
        "hwm = re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1)\n"
        "print(s, int(hwm) / 1024)\n"
    )
    out = subprocess.run(  # noqa: S603 - our own interpreter on our own script
        [sys.executable, "-c", script], check=True, capture_output=True, text=True
    ).stdout.split()
    return {"seconds": float(out[0]), "peak_rss_mb": float(out[1])}


CANDIDATES = [
    ("close / ts_max(close, 122) - 1", {}),
    ("(close - ts_min(close, 77)) / (ts_max(close, 77) - ts_min(close, 77))", {}),
    ("decay_linear(returns, 58)", {}),
    ("close / ts_max(close, 149) - 1", {}),
    ("decay_linear(returns, 58)", {"stop_loss": 0.2}),
    ("decay_linear(returns, 58)", {"long_short": 0.2}),
    (
        "-ts_mean(returns * returns * returns, 191) / "
        "(ts_std(returns, 191) * ts_std(returns, 191) * ts_std(returns, 191))",
        {},
    ),
    ("pct_change(returns, 58)", {}),
    ("decay_linear(returns, 42)", {}),
    (
        "rank(decay_linear(returns, 58)) + 0.5 * rank(rank(pct_change(close, 187)) - "
        "rank(ts_std(returns, 91)) + rank(-pct_change(close, 12)))",
        {},
    ),
    ("decay_linear(returns, 81)", {}),
    ("close / ts_mean(close, 115) - 1", {}),
]
"""The loop's first twelve candidates on this panel (top 750 monthly unless noted)."""

_COST = """
import hashlib, json, sys, time
from stratloop.config.models import StratloopConfig
from stratloop.loop.evaluation import backtest_evaluator
from stratloop.spec import Strategy

store, candidates = sys.argv[1], json.loads(sys.argv[2])
config = StratloopConfig.model_validate({
    "version": 1,
    "generation": {"use_factor_graph": True, "innovation_rate": 0},
    "data": {"source": store},
    "loop": {"eval_cache_mb": 256},
})
evaluate = backtest_evaluator(config)
seconds, digest = [], hashlib.sha256()
for expression, options in candidates:
    portfolio = {"kind": "top_n", "n": 750, "rebalance_days": 21}
    if "long_short" in options:
        portfolio = {"kind": "long_short", "quantile": options["long_short"], "rebalance_days": 21}
    strategy = Strategy.model_validate({
        "expression": expression,
        "portfolio": portfolio,
        "exits": {"stop_loss": options.get("stop_loss")},
    })
    started = time.perf_counter()
    result = evaluate(strategy, 5)
    seconds.append(time.perf_counter() - started)
    digest.update(json.dumps(result, sort_keys=True).encode())
print(json.dumps({"seconds": seconds, "digest": digest.hexdigest()}))
"""
"""Times the candidates through the worker's evaluator; prints seconds and a digest."""


def _candidate_cost(store: Path, src: Path | None) -> dict[str, Any]:
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = str(src)
    load = [round(x, 2) for x in os.getloadavg()]
    out = subprocess.run(  # noqa: S603 - our own interpreter on our own script
        [sys.executable, "-c", _COST, str(store), json.dumps(CANDIDATES)],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    ).stdout
    measured = json.loads(out)
    seconds = measured["seconds"]
    return {
        "load_average_before": load,
        "seconds": [round(x, 3) for x in seconds],
        "total_s": round(sum(seconds), 2),
        "mean_s": round(sum(seconds) / len(seconds), 3),
        "digest": measured["digest"],
    }


def _costs(store: Path, before: Path | None, before_label: str, rounds: int) -> dict[str, Any]:
    """Both code versions' candidate costs, interleaved round by round."""
    runs: dict[str, list[dict[str, Any]]] = {"after": []}
    if before is not None:
        runs[f"before ({before_label})"] = []
    for _ in range(rounds):
        for label, measured in runs.items():
            measured.append(_candidate_cost(store, None if label == "after" else before))
            print(label, json.dumps(measured[-1]), flush=True)
    digests = {run["digest"] for measured in runs.values() for run in measured}
    return {
        "candidates": len(CANDIDATES),
        "rounds": runs,
        "best_mean_s": {
            label: min(run["mean_s"] for run in measured) for label, measured in runs.items()
        },
        "same_results": len(digests) == 1,
    }


def _descendants() -> list[int]:
    """This process's descendants (the forkserver and the workers it forks)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int(
                    (entry / "stat").read_text().rsplit(")", 1)[1].split()[1]
                )
            except (OSError, IndexError, ValueError):
                continue
    found, frontier = [], [os.getpid()]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent]
        found += children
        frontier += children
    return found


def _memory_kib(pid: int) -> tuple[int, int]:
    values = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        key, value = line.split(":", 1)
        values[key] = int(value.split()[0])
    return values["Rss"], values["Pss"]


class _Sampler(threading.Thread):
    """Polls the worker processes' RSS and PSS; keeps each one's peak."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peaks: dict[int, tuple[int, int]] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.2):
            for pid in _descendants():
                try:
                    rss, pss = _memory_kib(pid)
                except (OSError, KeyError, ValueError):
                    continue
                old = self.peaks.get(pid, (0, 0))
                self.peaks[pid] = (max(old[0], rss), max(old[1], pss))


def _loop(source: Path, workers: int, iterations: int, tmp: Path) -> dict[str, Any]:
    runs = tmp / f"runs-{source.name}-{workers}"
    config = StratloopConfig.model_validate(
        {
            "version": 1,
            "generation": {"use_factor_graph": True, "innovation_rate": 0},
            "data": {"source": str(source)},
            "loop": {
                "iterations": iterations,
                "workers": workers,
                "runs_dir": str(runs),
                "eval_cache_mb": 256,
                "eval_timeout_s": 3600.0,
            },
            "audit": {"path": str(runs / "audit.jsonl")},
        }
    )
    sampler = _Sampler()
    sampler.start()
    load = [round(x, 2) for x in os.getloadavg()]
    started = time.perf_counter()
    summary = stratloop.run(config)
    seconds = time.perf_counter() - started
    sampler.stop.set()
    sampler.join()
    peaks = sorted(sampler.peaks.values(), reverse=True)[:workers]
    return {
        "workers": workers,
        "source": "store" if source.is_dir() else "parquet",
        "iterations": iterations,
        "completed": summary.iterations,
        "status": summary.status,
        "seconds": round(seconds, 2),
        "iterations_per_s": round(summary.iterations / seconds, 3),
        "peak_rss_mb_per_worker": [round(r / 1024) for r, _ in peaks],
        "peak_pss_mb_per_worker": [round(p / 1024) for _, p in peaks],
        "load_average_before": load,
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--assets", type=int, default=3000)
    parser.add_argument("--dates", type=int, default=5000)
    parser.add_argument("--iterations", type=int, default=1000)
    parser.add_argument("--copy-iterations", type=int, default=100)
    parser.add_argument(
        "--workers", type=int, nargs="+", default=[1, 2], help="worker counts of the loop runs"
    )
    parser.add_argument(
        "--copy-workers",
        type=int,
        nargs="+",
        default=[1, 2],
        help="worker counts of the runs on the Parquet file",
    )
    parser.add_argument(
        "--loops-only",
        action="store_true",
        help="Run the loops only; keep the loading results already recorded.",
    )
    parser.add_argument(
        "--load-only",
        action="store_true",
        help="Measure loading only; keep the loop results already recorded.",
    )
    parser.add_argument(
        "--candidates-only",
        action="store_true",
        help="Measure one candidate's cost only; keep the other results already recorded.",
    )
    parser.add_argument("--before-src", type=Path, help="another checkout's src to compare")
    parser.add_argument("--before-label", default="before", help="how to name --before-src")
    parser.add_argument(
        "--rounds",
        type=int,
        default=2,
        help="candidate-cost rounds per code (0: keep the recorded ones)",
    )
    args = parser.parse_args()
    recorded = RESULTS / "large_universe.json"
    result: dict[str, Any] = json.loads(recorded.read_text()) if recorded.is_file() else {}
    result["machine"] = describe(load_average_at_start=[round(x, 2) for x in os.getloadavg()])
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        parquet = tmp / "prices.parquet"
        rows = _long_parquet(args.assets, args.dates, parquet)
        result["panel"] = {"assets": args.assets, "dates": args.dates, "rows": rows}
        store = tmp / "store"
        write_panel_store(stratloop.data.load_panel(parquet), store)
        if args.rounds > 0:
            costs = _costs(store, args.before_src, args.before_label, args.rounds)
            earlier = result.get("candidate_cost", {})
            if args.before_src is None and len(earlier.get("rounds", {})) > 1:
                costs["comparison"] = earlier
            elif args.before_src is None and "comparison" in earlier:
                costs["comparison"] = earlier["comparison"]
            result["candidate_cost"] = costs
            _write(result)
        if not (args.candidates_only or args.loops_only):
            result["load"] = {label: _load(label, parquet, store) for label in _LOADERS}
            print(json.dumps(result["load"], indent=1), flush=True)
            _write(result)
        looping = not (args.load_only or args.candidates_only)
        runs = [(store, w, args.iterations) for w in args.workers]
        runs += [(parquet, w, args.copy_iterations) for w in args.copy_workers]
        for source, workers, iterations in runs if looping else ():
            measured = _loop(source, workers, iterations, tmp)
            print(json.dumps(measured), flush=True)
            same = (measured["source"], measured["workers"])
            kept = [r for r in result.get("loop", []) if (r["source"], r["workers"]) != same]
            result["loop"] = sorted([*kept, measured], key=_loop_order)
            _write(result)


def _loop_order(run: dict[str, Any]) -> tuple[bool, int]:
    return (run["source"] != "store", run["workers"])


def _write(result: dict[str, Any]) -> None:
    """Record what is measured so far: a run stopped later keeps the finished parts.

    A loop run replaces the recorded one of the same source and worker count;
    the others stay, each with its own iterations, time and load.
    """
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "large_universe.json").write_text(json.dumps(result, indent=1) + "\n")
    (RESULTS / "large_universe.md").write_text(_markdown(result))


def _markdown(result: dict[str, Any]) -> str:
    panel = result["panel"]
    lines = [
        f"# Large universe: {panel['assets']:,} assets x {panel['dates']:,} dates "
        f"({panel['rows']:,} long rows)",
        "",
        "| load | seconds | peak RSS (MiB) |",
        "|---|---|---|",
    ]
    lines += [
        f"| {label} | {v['seconds']:.2f} | {v['peak_rss_mb']:.0f} |"
        for label, v in result.get("load", {}).items()
    ]
    lines += [
        "",
        "| source | workers | iterations | it/s | peak RSS / worker MiB | peak PSS / worker MiB "
        "| load before / after |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['source']} | {r['workers']} | {r['completed']}/{r['iterations']} | "
        f"{r['iterations_per_s']} | {r['peak_rss_mb_per_worker']} | {r['peak_pss_mb_per_worker']} "
        f"| {r.get('load_average_before')} / {r.get('load_average_after')} |"
        for r in result.get("loop", [])
    ]
    costs = result.get("candidate_cost", {})
    for title, block in (("", costs), (" (earlier comparison)", costs.get("comparison", {}))):
        if not block:
            continue
        lines += [
            "",
            f"One candidate{title}: {block['candidates']} candidates, each round in a fresh "
            f"process; same results: {block['same_results']}",
            "",
            "| code | round | mean s / candidate | total s | load before (1, 5, 15 min) |",
            "|---|---|---|---|---|",
        ]
        lines += [
            f"| {label} | {number} | {run['mean_s']} | {run['total_s']} | "
            f"{run['load_average_before']} |"
            for label, measured in block["rounds"].items()
            for number, run in enumerate(measured, start=1)
        ]
    lines += ["", f"Machine: {result['machine']}"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
