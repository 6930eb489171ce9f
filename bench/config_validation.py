"""Benchmark: validating the full configuration (all six sections) from a dict.

Targets (issue 2): p99 under 20 µs for the Pydantic path and for the Phase 1
dict-validator path. Baseline in the same run: a plain loop that only walks
the same dict and type-checks each value, the least any validator must do.
Times are per call, by the thread's CPU clock (so preemption on a shared host
does not count) and by the wall clock, after a warm-up. The paths run in
interleaved rounds and the recorded figure is the median across rounds of each
round's percentile; an empty call measures what the clock reads themselves cost.

Run: ``python bench/config_validation.py [--iterations N] [--rounds R]``; writes
``bench/results/config_validation.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pydantic

from stratloop.config import StratloopConfig, validate_config, validate_dict
from stratloop.flags import Flags

FULL: dict[str, Any] = {
    "version": 1,
    "generation": {
        "use_factor_graph": None,
        "innovation_rate": 10,
        "on_llm_failure": "fail",
        "max_mutation_attempts": 25,
        "user_factors": None,
        "max_expression_nodes": 64,
        "max_expression_depth": 12,
        "max_window": 252,
    },
    "llm": {
        "enabled": True,
        "base_url": "http://127.0.0.1:11434/v1",
        "model": "m",
        "api_key_env": "OPENAI_API_KEY",
        "timeout_s": 60,
        "max_retries": 3,
        "temperature": 0.7,
        "max_tokens": 1024,
        "max_tokens_per_run": 100000,
        "cost_per_1k_tokens": 0.001,
        "max_cost_per_run": 10.0,
        "on_budget_exhausted": "stop",
        "repair_rounds": 1,
        "anonymize": True,
    },
    "data": {"source": "sp500-20", "layout": "auto", "start_date": None, "end_date": None},
    "backtest": {"cost_bps": 10, "train_fraction": 0.7, "split_date": None, "annualization": 252},
    "loop": {
        "iterations": 200,
        "seed": 42,
        "workers": 1,
        "batch_size": 4,
        "eval_timeout_s": 120,
        "champion_metric": "sharpe",
        "min_trades": 10,
        "runs_dir": "runs",
    },
    "audit": {
        "path": "audit/a.jsonl",
        "fsync": "batch",
        "batch_interval_s": 1.0,
        "batch_records": 64,
        "rotate_max_bytes": 1048576,
        "rotate_daily": True,
        "compress": True,
        "retention_files": 30,
        "retention_days": 90,
    },
}
TARGET_P99_US = 20.0


def plain_walk(document: dict[str, Any]) -> int:
    """The baseline: visit every value and check its type, nothing else."""
    count = 0
    for section in document.values():
        if isinstance(section, dict):
            for value in section.values():
                count += isinstance(value, (bool, int, float, str)) or value is None
    return count


def _measure(call: Callable[[], object], iterations: int) -> dict[str, float]:
    """One round: per-call thread CPU time and wall time, after a warm-up."""
    for _ in range(1000):
        call()
    cpu, wall = [], []
    for _ in range(iterations):
        w, c = time.perf_counter_ns(), time.thread_time_ns()
        call()
        cpu.append((time.thread_time_ns() - c) / 1000)
        wall.append((time.perf_counter_ns() - w) / 1000)
    q = statistics.quantiles(cpu, n=100, method="inclusive")
    qw = statistics.quantiles(wall, n=100, method="inclusive")
    return {
        "p50_us": round(q[49], 3),
        "p95_us": round(q[94], 3),
        "p99_us": round(q[98], 3),
        "max_us": round(max(cpu), 3),
        "wall_p50_us": round(qw[49], 3),
        "wall_p99_us": round(qw[98], 3),
    }


def _summarise(rounds: list[dict[str, float]]) -> dict[str, Any]:
    """Medians across rounds (the figure compared with the target) and the spread of p99."""
    summary: dict[str, Any] = {
        f"median_{key}": round(statistics.median(r[key] for r in rounds), 3) for key in rounds[0]
    }
    summary["p99_us_per_round"] = [r["p99_us"] for r in rounds]
    return summary


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main() -> None:
    """Run every path, print a summary and write the JSON results."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--iterations", type=int, default=10000, help="calls per round")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument(
        "--output", type=Path, default=Path(__file__).parent / "results" / "config_validation.json"
    )
    args = parser.parse_args()
    assert validate_dict(FULL) == StratloopConfig.model_validate(FULL)
    phase1 = Flags(phase2=False, phase3=False, phase4=False)
    paths = {
        "empty_call_clock_overhead": lambda: None,
        "plain_walk_baseline": lambda: plain_walk(FULL),
        "pydantic_model_validate": lambda: StratloopConfig.model_validate(FULL),
        "dict_validator": lambda: validate_dict(FULL),
        "validate_config_pydantic_with_conflicts": lambda: validate_config(FULL, flags=Flags()),
        "validate_config_dict_with_conflicts": lambda: validate_config(FULL, flags=phase1),
    }
    load_before = [round(x, 2) for x in os.getloadavg()]
    cpu_start = time.process_time()
    # Rounds interleave the paths, so a burst of load on the shared host hits them alike.
    rounds: dict[str, list[dict[str, float]]] = {name: [] for name in paths}
    for _ in range(args.rounds):
        for name, call in paths.items():
            rounds[name].append(_measure(call, args.iterations))
    results = {name: _summarise(per_round) for name, per_round in rounds.items()}
    for name in ("pydantic_model_validate", "dict_validator"):
        results[name]["meets_target"] = results[name]["median_p99_us"] < TARGET_P99_US
    report = {
        "benchmark": "full configuration (six sections, 48 fields) validated from a dict",
        "target_p99_us": TARGET_P99_US,
        "clock": "thread CPU time per call (clock reads included, see empty_call_clock_overhead);"
        " wall_* by perf_counter",
        "statistic": "median across rounds of each round's percentile",
        "rounds": args.rounds,
        "iterations_per_round": args.iterations,
        "process_cpu_seconds": round(time.process_time() - cpu_start, 2),
        "machine": {
            "nproc": os.cpu_count(),
            "cpu": _cpu_model(),
            "python": platform.python_version(),
            "numpy": np.__version__,
            "pydantic": pydantic.VERSION,
            "load_average_before": load_before,
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
        },
        "results": results,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    for name, stats in results.items():
        print(
            f"{name:42s} p50 {stats['median_p50_us']:7.2f}  p99 {stats['median_p99_us']:7.2f} µs"
            f"  (p99 per round {stats['p99_us_per_round']})"
        )


if __name__ == "__main__":
    main()
