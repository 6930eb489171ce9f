"""Strategy-pattern overhead, measured the way the deployment guide budgets it.

Two numbers per iteration, in nanoseconds of ``time.perf_counter_ns``:

- selection: ``StrategyFactory(llm, factor_graph).create(config)``,
  exactly what :func:`~stratloop.generation.generate_iteration` pays;
- invocation overhead: the time of ``strategy.generate(ctx)`` minus the time
  spent inside the generator it called (measured by a timing wrapper around
  the source), so the generator's own work is excluded. The same wrapper timed
  around a direct ``source.propose(ctx)`` call gives the plain-call baseline,
  i.e. what the measurement itself costs.

The garbage collector stays on: pauses it causes are part of what production pays.
An iteration during which the scheduler gave the core to another process (an
involuntary context switch of this thread) is timed again: on a shared host
that interval is the other process's time, not the strategy's. How many were
redone is reported (``preempted_redone``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from stratloop._preempt import involuntary_switches
from stratloop.config.models import StratloopConfig
from stratloop.generation.context import GenerationContext
from stratloop.generation.strategies import CandidateSource, StrategyFactory
from stratloop.spec import Candidate

__all__ = [
    "INVOCATION_BUDGET_MS",
    "SELECTION_BUDGET_MS",
    "LatencySummary",
    "ObservedSource",
    "OverheadReport",
    "measure_strategy_overhead",
]

SELECTION_BUDGET_MS = 0.1
"""The guide's budget for strategy selection."""
INVOCATION_BUDGET_MS = 0.5
"""The guide's budget for strategy-pattern overhead per invocation."""
_MAX_REDONE = 10
"""Preempted iterations redone at most this many times the sample: then they are kept."""


@dataclass(frozen=True, slots=True)
class LatencySummary:
    """Percentiles of one latency sample, in microseconds."""

    count: int
    mean_us: float
    p50_us: float
    p95_us: float
    p99_us: float
    max_us: float

    @classmethod
    def of(cls, samples_ns: Sequence[int]) -> LatencySummary:
        """Summarise nanosecond samples (nearest-rank percentiles)."""
        ordered = sorted(samples_ns)
        if not ordered:
            raise ValueError("cannot summarise an empty sample")

        def rank(q: float) -> float:
            index = max(0, math.ceil(q * len(ordered)) - 1)
            return ordered[index] / 1000.0

        return cls(
            count=len(ordered),
            mean_us=sum(ordered) / len(ordered) / 1000.0,
            p50_us=rank(0.50),
            p95_us=rank(0.95),
            p99_us=rank(0.99),
            max_us=ordered[-1] / 1000.0,
        )

    def as_dict(self) -> dict[str, float | int]:
        """JSON-ready dict."""
        return {
            "count": self.count,
            "mean_us": self.mean_us,
            "p50_us": self.p50_us,
            "p95_us": self.p95_us,
            "p99_us": self.p99_us,
            "max_us": self.max_us,
        }


@dataclass(frozen=True, slots=True)
class OverheadReport:
    """Selection and invocation overhead, with the budgets they are held to."""

    strategy: str
    iterations: int
    warmup: int
    selection: LatencySummary
    invocation_overhead: LatencySummary
    direct_call_overhead: LatencySummary
    selection_budget_ms: float = SELECTION_BUDGET_MS
    invocation_budget_ms: float = INVOCATION_BUDGET_MS
    preempted_redone: int = 0

    @property
    def selection_ok(self) -> bool:
        """Selection p99 is within its budget."""
        return self.selection.p99_us <= self.selection_budget_ms * 1000.0

    @property
    def invocation_ok(self) -> bool:
        """Invocation-overhead p99 is within its budget."""
        return self.invocation_overhead.p99_us <= self.invocation_budget_ms * 1000.0

    @property
    def passed(self) -> bool:
        """Both budgets are met."""
        return self.selection_ok and self.invocation_ok

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "strategy": self.strategy,
            "iterations": self.iterations,
            "warmup": self.warmup,
            "selection": self.selection.as_dict(),
            "invocation_overhead": self.invocation_overhead.as_dict(),
            "direct_call_overhead": self.direct_call_overhead.as_dict(),
            "selection_budget_ms": self.selection_budget_ms,
            "invocation_budget_ms": self.invocation_budget_ms,
            "preempted_redone": self.preempted_redone,
            "selection_ok": self.selection_ok,
            "invocation_ok": self.invocation_ok,
            "passed": self.passed,
        }


class ObservedSource:
    """Wraps an injected source: counts the calls that reach it and times the last one."""

    __slots__ = ("_inner", "calls", "last_ns")

    def __init__(self, inner: CandidateSource) -> None:
        self._inner = inner
        self.calls = 0
        self.last_ns = 0

    def propose(self, ctx: GenerationContext) -> Candidate:
        """The inner source's candidate."""
        self.calls += 1
        start = time.perf_counter_ns()
        try:
            return self._inner.propose(ctx)
        finally:
            self.last_ns = time.perf_counter_ns() - start


def measure_strategy_overhead(
    config: StratloopConfig,
    iterations: int,
    *,
    llm: CandidateSource | None,
    factor_graph: CandidateSource,
    warmup: int | None = None,
) -> OverheadReport:
    """Time selection and invocation for the strategy ``config`` selects.

    Args:
        config: the configuration whose strategy is measured.
        iterations: timed iterations (each a fresh context, iteration number i).
        llm: the LLM proposer, when the configuration can mandate it.
        factor_graph: the factor-graph generator.
        warmup: untimed iterations first (default: a tenth, at most 100).

    Raises:
        ValueError: ``iterations`` is below 1.
        ConfigConflictError: the configuration needs an LLM and ``llm`` is None.
    """
    if iterations < 1:
        raise ValueError(f"iterations must be at least 1 but got {iterations}")
    warm = min(100, iterations // 10) if warmup is None else warmup
    timed_llm = None if llm is None else ObservedSource(llm)
    timed_fg = ObservedSource(factor_graph)
    selection: list[int] = []
    invocation: list[int] = []
    direct: list[int] = []
    name = ""
    clock = time.perf_counter_ns
    redone = 0
    i = 0
    while i < warm + iterations:
        switches = involuntary_switches()
        start = clock()
        strategy = StrategyFactory(timed_llm, timed_fg).create(config)
        selected = clock() - start
        ctx = GenerationContext.create(config, i)
        start = clock()
        candidate = strategy.generate(ctx)
        total = clock() - start
        source = timed_fg if candidate.method == "factor_graph" else timed_llm
        assert source is not None  # an LLM candidate came from the LLM source
        inner = source.last_ns
        plain_ctx = GenerationContext.create(config, i)
        start = clock()
        source.propose(plain_ctx)
        plain = clock() - start
        if i >= warm and involuntary_switches() != switches and redone < _MAX_REDONE * iterations:
            redone += 1
            continue
        if i >= warm:
            name = strategy.name
            selection.append(selected)
            invocation.append(total - inner)
            direct.append(plain - source.last_ns)
        i += 1
    return OverheadReport(
        strategy=name,
        iterations=iterations,
        warmup=warm,
        selection=LatencySummary.of(selection),
        invocation_overhead=LatencySummary.of(invocation),
        direct_call_overhead=LatencySummary.of(direct),
        preempted_redone=redone,
    )
