"""The learning loop's own cost, its throughput on the embedded data, and the audit trail's share.

Run from the repository root::

    python bench/loop_overhead.py            # writes bench/results/loop_overhead.json

1. Loop overhead: everything but the backtest and the LLM (flags read, context,
   decision and generation dispatch, validation, worker round trip, history
   line, champion rule, fsync and atomic files per batch), measured with a
   constant candidate and an evaluator that returns constant metrics. The
   per-iteration cost of each batch is its wall time over its size; target p99
   < 1 ms. Baseline in the same run: a bare in-process loop doing only
   ``generate_iteration`` and the evaluator call.
2. Factor-graph-only iterations per second on the embedded dataset (the
   default configuration), workers 1 and 2.
3. Throughput with the audit trail on over off (same seed, interleaved
   repeats, median); target >= 0.95.
"""

from __future__ import annotations

import dataclasses
import json
import statistics
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from _machine import describe

from stratloop.config import default_config
from stratloop.config.models import StratloopConfig
from stratloop.flags import EnvFlagSource, instance_id
from stratloop.generation import FunctionSource, GenerationContext, generate_iteration
from stratloop.iteration import IterationRecord
from stratloop.loop import LoopParts, LoopRunner, RunAudit, build_parts
from stratloop.spec import Candidate, Strategy, TopN

RESULTS = Path(__file__).parent / "results" / "loop_overhead.json"
PHASE4_ON = {
    "ENABLE_GENERATION_REFACTORING": "true",
    "PHASE1_CONFIG_ENFORCEMENT": "true",
    "PHASE2_PYDANTIC_VALIDATION": "true",
    "PHASE3_STRATEGY_PATTERN": "true",
    "PHASE4_AUDIT_TRAIL": "true",
}
PHASE4_OFF = {**PHASE4_ON, "PHASE4_AUDIT_TRAIL": "false"}
CANDIDATE = Candidate(Strategy(expression="rank(returns)", portfolio=TopN(n=5)), "factor_graph")
METRICS = {"sharpe": 1.0, "n_trades": 50, "annual_return": 0.1}


def constant_evaluator(_config: StratloopConfig) -> Any:
    """Returns constant metrics at once: the loop's cost without a backtest."""

    def evaluate(
        _strategy: Strategy, _n_trials: int
    ) -> tuple[Mapping[str, Any], Mapping[str, Any]]:
        return METRICS, METRICS

    return evaluate


class _Clock:
    """A progress sink that timestamps every commit."""

    def __init__(self) -> None:
        self.stamps: list[float] = []

    def begin(self, _total: int, _done: int) -> None:
        self.stamps.append(time.perf_counter())

    def committed(self, _record: IterationRecord, _best: float | None) -> None:
        self.stamps.append(time.perf_counter())

    def end(self) -> None:
        """Nothing to stop."""


def _config(root: Path, **loop: Any) -> StratloopConfig:
    base = default_config()
    settings = base.loop.model_copy(update={"runs_dir": str(root / "runs"), **loop})
    audit = base.audit.model_copy(update={"path": str(root / "audit" / "trail.jsonl")})
    return base.model_copy(update={"loop": settings, "audit": audit})


def loop_overhead(root: Path, iterations: int = 4000, batch: int = 8) -> dict[str, Any]:
    """Per-iteration overhead of the loop itself, p50/p99 over batches, and the bare baseline."""
    config = _config(root, iterations=iterations, batch_size=batch, seed=1)
    source = FunctionSource(lambda _ctx: CANDIDATE)
    parts = LoopParts(
        factor_graph=source, evaluator=constant_evaluator, flags=EnvFlagSource(PHASE4_OFF)
    )
    clock = _Clock()
    LoopRunner.create(config, lambda _u: parts, run_id="overhead").run(clock)
    stamps = clock.stamps
    per_iteration = [
        (stamps[i + batch] - stamps[i]) / batch * 1e3
        for i in range(batch, len(stamps) - batch, batch)
    ]
    flags = EnvFlagSource(PHASE4_OFF).current()
    evaluate = constant_evaluator(config)
    bare = []
    for i in range(iterations):
        start = time.perf_counter()
        ctx = GenerationContext.create(config, i)
        outcome = generate_iteration(ctx, flags, llm=None, factor_graph=source)
        assert outcome.candidate is not None
        evaluate(outcome.candidate.strategy, i + 1)
        bare.append((time.perf_counter() - start) * 1e3)
    return {
        "iterations": iterations,
        "batch_size": batch,
        "workers": 1,
        "loop_ms_per_iteration_p50": statistics.median(per_iteration),
        "loop_ms_per_iteration_p99": float(np.percentile(per_iteration, 99)),
        "bare_loop_ms_per_iteration_p50": statistics.median(bare),
        "bare_loop_ms_per_iteration_p99": float(np.percentile(bare, 99)),
        "target_p99_ms": 1.0,
    }


class _TimedAudit:
    """Wraps the run's audit sink and adds up the time spent writing records."""

    def __init__(self, inner: RunAudit) -> None:
        self.inner = inner
        self.seconds = 0.0
        self.records = 0

    @property
    def recovery_messages(self) -> tuple[str, ...]:
        return self.inner.recovery_messages

    def write(self, record: IterationRecord) -> None:
        start = time.perf_counter()
        self.inner.write(record)
        self.seconds += time.perf_counter() - start
        self.records += 1

    def backfill(self, records: Any) -> int:
        return self.inner.backfill(records)

    def close(self) -> None:
        start = time.perf_counter()
        self.inner.close()
        self.seconds += time.perf_counter() - start


def _real_run(
    root: Path, name: str, flags: dict[str, str], **loop: Any
) -> tuple[float, _TimedAudit | None]:
    config = _config(root / name, seed=7, **loop)
    source = EnvFlagSource(flags)
    timed: list[_TimedAudit] = []

    def make(spent: Any) -> LoopParts:
        parts = build_parts(
            config, flags=source, run_id=name, instance_id=instance_id(), spent=spent
        )
        assert parts.audit is not None
        timed.append(_TimedAudit(parts.audit))  # type: ignore[arg-type]
        return dataclasses.replace(parts, audit=timed[0])

    runner = LoopRunner.create(config, make, run_id=name)
    start = time.perf_counter()
    summary = runner.run()
    elapsed = time.perf_counter() - start
    assert summary.status == "completed", summary.message
    return summary.iterations / elapsed, timed[0]


def throughput(root: Path, iterations: int = 100) -> dict[str, Any]:
    """Factor-graph-only iterations per second on the embedded dataset, workers 1 and 2."""
    rates = {
        f"workers_{w}_iterations_per_s": _real_run(
            root, f"w{w}", PHASE4_OFF, iterations=iterations, workers=w
        )[0]
        for w in (1, 2)
    }
    return rates | {
        "iterations": iterations,
        "dataset": "sp500-20 (embedded, 20 stocks, 1990-2022)",
    }


def audit_ratio(root: Path, iterations: int = 100, repeats: int = 3) -> dict[str, Any]:
    """Throughput with the audit trail on over off: end to end, and from the audit's own time.

    The machine is shared, so the end-to-end ratio of two short runs carries
    the load's noise; the cost-based ratio divides the mean iteration time with
    the audit off by that time plus the measured audit time per record.
    """
    on, off, audit_seconds, audit_records = [], [], 0.0, 0
    for r in range(repeats):
        off.append(_real_run(root, f"off{r}", PHASE4_OFF, iterations=iterations, workers=2)[0])
        rate, timed = _real_run(root, f"on{r}", PHASE4_ON, iterations=iterations, workers=2)
        on.append(rate)
        assert timed is not None
        audit_seconds += timed.seconds
        audit_records += timed.records
    per_record = audit_seconds / audit_records
    iteration_off = 1.0 / statistics.median(off)
    return {
        "iterations": iterations,
        "repeats": repeats,
        "audit_on_iterations_per_s": on,
        "audit_off_iterations_per_s": off,
        "ratio_on_over_off_end_to_end": statistics.median(on) / statistics.median(off),
        "audit_ms_per_record_in_loop": per_record * 1e3,
        "ratio_on_over_off_from_audit_cost": iteration_off / (iteration_off + per_record),
        "target_ratio": 0.95,
    }


def main() -> None:
    """Run the three measurements and write the results."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        results = {
            "machine": describe(),
            "loop_overhead": loop_overhead(root / "overhead"),
            "throughput": throughput(root / "throughput"),
            "audit": audit_ratio(root / "audit"),
        }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
