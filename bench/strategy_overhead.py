"""Benchmark: strategy-pattern overhead against a plain direct call, in the same run.

Targets (issue 4): strategy selection p99 < 5 µs and strategy-invocation
overhead (excluding the generator's own work) p99 < 20 µs; the deployment
guide's budgets are 0.1 ms and 0.5 ms. The plain alternatives measured beside
them: an if/elif on ``use_factor_graph`` returning the source (selection), and
a direct ``source.propose(ctx)`` call through the same timing wrapper
(invocation). Run: ``python bench/strategy_overhead.py [--iterations N]``;
writes ``bench/results/strategy_overhead.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from _machine import describe

from stratloop.acceptance.strategy_overhead import LatencySummary, measure_strategy_overhead
from stratloop.generation.strategies import CandidateSource
from stratloop.generation.testing import config_with, drawing_source

SELECTION_TARGET_US = 5.0
INVOCATION_TARGET_US = 20.0
RESULTS = Path(__file__).parent / "results" / "strategy_overhead.json"


def _plain_selection(iterations: int, use_factor_graph: bool | None) -> LatencySummary:
    llm: CandidateSource = drawing_source("llm")
    fg: CandidateSource = drawing_source("factor_graph")
    samples = []
    clock = time.perf_counter_ns
    for _ in range(iterations):
        start = clock()
        if use_factor_graph is True:
            chosen = fg
        elif use_factor_graph is False:
            chosen = llm
        else:
            chosen = fg
        samples.append(clock() - start)
        del chosen
    return LatencySummary.of(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=20_000)
    args = parser.parse_args()
    llm = drawing_source("llm")
    fg = drawing_source("factor_graph")
    cases = {}
    ok = True
    for value in (True, False, None):
        report = measure_strategy_overhead(
            config_with(value, 50.0), args.iterations, llm=llm, factor_graph=fg
        )
        plain = _plain_selection(args.iterations, value)
        selection_ok = report.selection.p99_us < SELECTION_TARGET_US
        invocation_ok = report.invocation_overhead.p99_us < INVOCATION_TARGET_US
        ok &= selection_ok and invocation_ok
        cases[report.strategy] = {
            "selection": report.selection.as_dict(),
            "plain_if_else_selection": plain.as_dict(),
            "invocation_overhead": report.invocation_overhead.as_dict(),
            "direct_call_overhead": report.direct_call_overhead.as_dict(),
            "selection_p99_under_5us": selection_ok,
            "invocation_p99_under_20us": invocation_ok,
        }
        print(
            f"{report.strategy:20s} selection p99 {report.selection.p99_us:6.2f} µs "
            f"(plain if/else {plain.p99_us:5.2f} µs)  invocation overhead p99 "
            f"{report.invocation_overhead.p99_us:6.2f} µs (direct call "
            f"{report.direct_call_overhead.p99_us:5.2f} µs)"
        )
    result = {
        "benchmark": "strategy_overhead",
        "iterations_per_case": args.iterations,
        "targets_us": {
            "selection_p99": SELECTION_TARGET_US,
            "invocation_p99": INVOCATION_TARGET_US,
        },
        "guide_budgets_ms": {"selection": 0.1, "invocation": 0.5},
        "all_targets_met": ok,
        "cases": cases,
        "machine": describe(),
        "note": "gc enabled; the machine's 2 cores were shared with other work during the run",
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"all targets met: {ok}; wrote {RESULTS.name}")


if __name__ == "__main__":
    main()
