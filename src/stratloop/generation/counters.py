"""Generation counters the deployment guide monitors, accumulated from outcomes.

Definitions (what each number in :meth:`GenerationCountersSnapshot.as_dict` means):

- ``iterations``: outcomes recorded.
- ``mandated method``: what the Phase 1 priority rule
  (:func:`~stratloop.generation.decision.decide`) makes of the configuration
  and the iteration's draw, whichever implementation ran.
- ``adherent``: the iteration attempted its mandated method first, and any
  switch away from it was an explicit fallback the user configured
  (``on_llm_failure: fallback_to_factor_graph``). A failed iteration that
  attempted the mandated method is adherent (``on_llm_failure: fail`` is what
  the user asked for). A silent fallback, or a legacy decision that ignored
  ``use_factor_graph``, is not.
- ``priority_adherence``: adherent / iterations (None before the first one).
- ``silent_fallbacks`` / ``explicit_fallbacks``: outcomes whose fallback has that kind.
- ``llm_share``: iterations that decided on the LLM / iterations.
- ``draw_iterations``, ``draw_llm_share``, ``expected_llm_share``: among
  iterations decided by a draw (``use_factor_graph`` null, or legacy), the
  share that drew the LLM and the mean of ``innovation_rate / 100``;
  ``llm_share_interval`` is the 99.9% normal-approximation binomial interval
  around the expected share for that many draws.
- ``failures``: failed iterations; ``failures_by_error`` counts them by error class
  (an iteration whose generator only repeated tried candidates is ``exhausted``, not failed).
- ``fallbacks_by_error``: fallbacks by the error class that caused them.
- ``strategy_selected``, ``decision_rules``, ``implementations``,
  ``methods_used``: counts by name.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any

from stratloop._share import Share
from stratloop.config.models import GenerationConfig
from stratloop.generation.decision import DRAW_RULES, decide
from stratloop.generation.outcome import GenerationOutcome

__all__ = ["GenerationCounters", "GenerationCountersSnapshot", "adheres"]

_Z_999 = 3.2905267314919255
"""Two-sided 99.9% standard normal quantile."""


def adheres(outcome: GenerationOutcome, generation: GenerationConfig) -> bool:
    """True when ``outcome`` followed the configuration's priority (see the module docstring)."""
    decision = outcome.decision
    mandated = decide(generation.use_factor_graph, generation.innovation_rate, decision.draw)
    if decision.method != mandated.method:
        return False
    return outcome.fallback is None or outcome.fallback.kind == "explicit"


def _frozen(counts: Counter[str]) -> Mapping[str, int]:
    return MappingProxyType(dict(sorted(counts.items())))


@dataclass(frozen=True, slots=True)
class GenerationCountersSnapshot:
    """The counters at one moment; frozen, safe to hand to metrics and reports."""

    iterations: int
    adherent: int
    silent_fallbacks: int
    explicit_fallbacks: int
    llm_decisions: int
    draw_iterations: int
    draw_llm_decisions: int
    expected_llm_share_sum: float
    failures_by_error: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    fallbacks_by_error: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    strategy_selected: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    decision_rules: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    implementations: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    methods_used: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def failures(self) -> int:
        """Iterations that produced no candidate."""
        return sum(self.failures_by_error.values())

    priority_adherence = Share(
        "adherent", "iterations", "Share of iterations that followed the configuration's priority."
    )
    llm_share = Share("llm_decisions", "iterations", "Share of iterations that decided on the LLM.")
    draw_llm_share = Share(
        "draw_llm_decisions",
        "draw_iterations",
        "Share of draw-decided iterations that drew the LLM.",
    )
    expected_llm_share = Share(
        "expected_llm_share_sum",
        "draw_iterations",
        "Mean ``innovation_rate / 100`` over draw-decided iterations.",
    )

    @property
    def llm_share_interval(self) -> tuple[float, float] | None:
        """99.9% binomial interval (normal approximation) for ``draw_llm_share``."""
        expected = self.expected_llm_share
        if expected is None:
            return None
        half = _Z_999 * math.sqrt(expected * (1.0 - expected) / self.draw_iterations)
        return (max(0.0, expected - half), min(1.0, expected + half))

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict of every counter and derived share."""
        interval = self.llm_share_interval
        return {
            "iterations": self.iterations,
            "adherent": self.adherent,
            "priority_adherence": self.priority_adherence,
            "silent_fallbacks": self.silent_fallbacks,
            "explicit_fallbacks": self.explicit_fallbacks,
            "failures": self.failures,
            "failures_by_error": dict(self.failures_by_error),
            "fallbacks_by_error": dict(self.fallbacks_by_error),
            "llm_share": self.llm_share,
            "draw_iterations": self.draw_iterations,
            "draw_llm_share": self.draw_llm_share,
            "expected_llm_share": self.expected_llm_share,
            "llm_share_interval": None if interval is None else list(interval),
            "strategy_selected": dict(self.strategy_selected),
            "decision_rules": dict(self.decision_rules),
            "implementations": dict(self.implementations),
            "methods_used": dict(self.methods_used),
        }


@dataclass(slots=True)
class GenerationCounters:
    """Accumulates outcomes; :meth:`snapshot` returns the frozen view (same field names).

    Not thread-safe: record from the thread that commits iterations.
    """

    iterations: int = 0
    adherent: int = 0
    silent_fallbacks: int = 0
    explicit_fallbacks: int = 0
    llm_decisions: int = 0
    draw_iterations: int = 0
    draw_llm_decisions: int = 0
    expected_llm_share_sum: float = 0.0
    failures_by_error: Counter[str] = field(default_factory=Counter)
    fallbacks_by_error: Counter[str] = field(default_factory=Counter)
    strategy_selected: Counter[str] = field(default_factory=Counter)
    decision_rules: Counter[str] = field(default_factory=Counter)
    implementations: Counter[str] = field(default_factory=Counter)
    methods_used: Counter[str] = field(default_factory=Counter)

    def record(self, outcome: GenerationOutcome, generation: GenerationConfig) -> None:
        """Count one outcome produced under the ``generation`` configuration."""
        decision = outcome.decision
        self.iterations += 1
        self.adherent += adheres(outcome, generation)
        self.llm_decisions += decision.method == "llm"
        if decision.rule in DRAW_RULES:
            self.draw_iterations += 1
            self.draw_llm_decisions += decision.method == "llm"
            self.expected_llm_share_sum += decision.innovation_rate / 100.0
        if outcome.fallback is not None:
            if outcome.fallback.kind == "silent":
                self.silent_fallbacks += 1
            else:
                self.explicit_fallbacks += 1
            self.fallbacks_by_error[outcome.fallback.error_type or "unknown"] += 1
        if outcome.candidate is None and not outcome.exhausted:
            self.failures_by_error[outcome.error_type or "unknown"] += 1
        self.strategy_selected[outcome.strategy_selected] += 1
        self.decision_rules[decision.rule] += 1
        self.implementations[outcome.implementation] += 1
        self.methods_used[outcome.method_used or "none"] += 1

    def snapshot(self) -> GenerationCountersSnapshot:
        """The counters now, frozen."""
        values: dict[str, Any] = {name: getattr(self, name) for name in _FIELDS}
        for name, value in values.items():
            if isinstance(value, Counter):
                values[name] = _frozen(value)
        return GenerationCountersSnapshot(**values)


_FIELDS = tuple(f.name for f in fields(GenerationCounters))
