"""A run's committed history folded into bounded counts: what the history metrics read.

A service runs the loop for days at tens of iterations a second. Keeping
every committed record would grow its memory without bound and make every
``/health`` or ``/metrics`` request walk the whole run. Instead each record
is folded once, as it is committed, into counts keyed by a handful of names
(statuses, strategies, implementations, error kinds), and a request reads a
frozen :class:`HistoryCounts`, whose size is the number of distinct names.
:func:`~stratloop.service.measure.measure_history` folds a history file's
records through the same :class:`HistoryTally`, so each metric has one
implementation whichever way the records arrive.
"""

from __future__ import annotations

import math
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TypeVar

from stratloop.config.models import GenerationConfig
from stratloop.iteration import IterationRecord
from stratloop.llm.calls import CallTally, ModelSummary
from stratloop.loop.counters import LoopCounters

__all__ = ["EXPECTED_STRATEGY", "HistoryCounts", "HistoryTally"]

EXPECTED_STRATEGY: Mapping[bool | None, str] = MappingProxyType(
    {True: "FactorGraphStrategy", False: "LLMStrategy", None: "MixedStrategy"}
)
"""The strategy the factory must select for each ``use_factor_graph`` value."""

_FAILED = frozenset({"generation_failed", "evaluation_failed", "evaluation_timeout"})
"""Statuses that count as errors in the error rate against the Phase 1-2 baseline."""

_NO_EVALUATION = frozenset(
    {"generation_failed", "validation_failed", "evaluation_failed", "evaluation_timeout"}
)
"""Statuses of iterations that failed to produce an evaluation (``exhausted`` and
``redundant`` are search outcomes, not failures)."""

_K = TypeVar("_K", str, tuple[str, str])


def _frozen(counts: Counter[_K]) -> Mapping[_K, int]:
    return MappingProxyType(dict(sorted(counts.items())))


def _numeric(metrics: Mapping[str, object]) -> dict[str, float]:
    """The finite numbers of a metrics mapping (counts included), sorted by name."""
    return {
        name: float(value)
        for name, value in sorted(metrics.items())
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    }


@dataclass(frozen=True, slots=True)
class HistoryCounts:
    """The tally at one moment; its mappings are read-only and sorted by key.

    Args:
        iterations: committed records folded.
        adherent: iterations that followed the configuration's priority
            (:class:`~stratloop.loop.LoopCounters`).
        silent_fallbacks: iterations that fell back without being configured to.
        validation_errors: iterations whose candidate failed validation.
        audited: iterations committed with Phase 4 on.
        last_timestamp: the ``timestamp`` of the last record, as text; None before the first.
        statuses: iterations by ``status``.
        errors: iterations with an ``error``, by its (stage, type).
        strategies: iterations by ``strategy_selected``.
        pattern_iterations: strategy-pattern iterations.
        pattern_correct: those that selected the strategy their ``use_factor_graph`` names.
        implementations: iterations by ``implementation``.
        implementation_failures: iterations that failed (generation failed,
            evaluation failed or timed out), by ``implementation``.
        llm_decisions: iterations whose decision was the LLM.
        llm_failures: those whose LLM attempt failed (it fell back, or no candidate).
        champion_train: the train-period numeric metrics of the latest champion
            (empty before the first one).
        recent: how many of the latest iterations the recent counts cover (at
            most the tally's window).
        recent_failures: those that failed to produce an evaluation, by ``stage/ErrorType``.
        run_failures: the whole run's, by ``stage/ErrorType``.
        llm_models: per model of the LLM calls recorded: proposals, acceptance,
            improvements, tokens, cost and latency (latency as a sum only).
    """

    iterations: int
    adherent: int
    silent_fallbacks: int
    validation_errors: int
    audited: int
    last_timestamp: str | None
    statuses: Mapping[str, int]
    errors: Mapping[tuple[str, str], int]
    strategies: Mapping[str, int]
    pattern_iterations: int
    pattern_correct: int
    implementations: Mapping[str, int]
    implementation_failures: Mapping[str, int]
    llm_decisions: int
    llm_failures: int
    champion_train: Mapping[str, float]
    recent: int = 0
    recent_failures: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    run_failures: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    llm_models: tuple[ModelSummary, ...] = ()

    @property
    def failed(self) -> int:
        """Iterations of the whole run that produced no evaluation."""
        return sum(self.run_failures.values())

    @property
    def recent_failed(self) -> int:
        """Iterations among the recent ones that produced no evaluation."""
        return sum(self.recent_failures.values())


class HistoryTally:
    """Folds committed history records, one at a time, into :class:`HistoryCounts`.

    Memory is bounded by the number of distinct statuses, strategies,
    implementations and error kinds, never by the number of records. Not
    thread-safe: the service folds and snapshots under its own lock.

    Args:
        generation: the run's generation configuration (adherence is measured against it).
        window: how many of the latest iterations the recent failure counts cover.
    """

    __slots__ = (
        "_calls",
        "_champion",
        "_counters",
        "_errors",
        "_failures",
        "_last",
        "_llm_failed",
        "_pattern",
        "_pattern_correct",
        "_recent",
        "_recent_causes",
        "_run_causes",
    )

    def __init__(self, generation: GenerationConfig, window: int = 100) -> None:
        self._counters: LoopCounters = LoopCounters(generation)
        self._errors: Counter[tuple[str, str]] = Counter()
        self._failures: Counter[str] = Counter()
        self._pattern = 0
        self._pattern_correct = 0
        self._last: str | None = None
        self._llm_failed = 0
        self._champion: Mapping[str, float] = MappingProxyType({})
        self._recent: deque[str | None] = deque(maxlen=window)
        self._recent_causes: Counter[str] = Counter()
        self._run_causes: Counter[str] = Counter()
        self._calls = CallTally(keep_latencies=False)

    def add(self, record: IterationRecord) -> None:
        """Fold one committed record (as the loop commits it, or as its history file holds it)."""
        outcome = record.outcome
        implementation = outcome.implementation
        self._counters.add(record)
        if implementation == "strategy_pattern":
            self._pattern += 1
            expected = EXPECTED_STRATEGY[outcome.decision.use_factor_graph]
            self._pattern_correct += outcome.strategy_selected == expected
        cause = None
        if record.error is not None:
            self._errors[record.error.stage, record.error.type] += 1
            if record.status in _NO_EVALUATION:
                cause = f"{record.error.stage}/{record.error.type}"
                self._run_causes[cause] += 1
        self._slide(cause)
        self._failures[implementation] += record.status in _FAILED
        self._last = record.timestamp
        if outcome.decision.method == "llm":
            self._llm_failed += outcome.fallback is not None or outcome.candidate is None
        if record.champion and record.train is not None:
            self._champion = MappingProxyType(_numeric(record.train))
        if record.llm_calls:
            self._calls.add(record.llm_calls, record.champion if record.evaluated else None)

    def _slide(self, cause: str | None) -> None:
        """Slide the recent window by one iteration (``cause``: why it failed; None: it did not)."""
        recent = self._recent
        if len(recent) == recent.maxlen:
            gone = recent[0]
            if gone is not None:
                self._recent_causes[gone] -= 1
                if not self._recent_causes[gone]:
                    del self._recent_causes[gone]
        recent.append(cause)
        if cause is not None:
            self._recent_causes[cause] += 1

    def counts(self) -> HistoryCounts:
        """The counts now, frozen (a copy of a few small mappings, whatever the run's length)."""
        loop = self._counters
        outcomes = loop.outcomes.snapshot()
        return HistoryCounts(
            iterations=outcomes.iterations,
            adherent=outcomes.adherent,
            silent_fallbacks=outcomes.silent_fallbacks,
            validation_errors=loop.statuses["validation_failed"],
            audited=loop.audit_records,
            last_timestamp=self._last,
            statuses=_frozen(loop.statuses),
            errors=_frozen(self._errors),
            strategies=outcomes.strategy_selected,
            pattern_iterations=self._pattern,
            pattern_correct=self._pattern_correct,
            implementations=outcomes.implementations,
            implementation_failures=_frozen(self._failures),
            llm_decisions=outcomes.llm_decisions,
            llm_failures=self._llm_failed,
            champion_train=self._champion,
            recent=len(self._recent),
            recent_failures=_frozen(self._recent_causes),
            run_failures=_frozen(self._run_causes),
            llm_models=self._calls.summaries(),
        )
