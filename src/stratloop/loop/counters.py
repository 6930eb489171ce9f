"""The loop's counters, accumulated from iteration records (so a resume rebuilds them).

The generation side (configuration-priority adherence, silent and explicit
fallbacks, the LLM share against ``innovation_rate``, strategy-selection
counts) is :class:`~stratloop.generation.GenerationCounters`, fed with the
outcome each record describes. The loop side adds validation errors,
evaluations, evaluation failures and timeouts, repeats rejected, exhausted and
redundant iterations, audit records written,
champion updates and the LLM usage.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from stratloop.config.models import GenerationConfig
from stratloop.generation.counters import GenerationCounters
from stratloop.iteration import IterationRecord
from stratloop.llm.budget import Usage

__all__ = ["LoopCounters"]

FACTOR_GRAPH_ONLY = "factor_graph_only"
"""``budget_mode`` once the LLM budget is spent and the run goes on without it."""


@dataclass(slots=True)
class LoopCounters:
    """Counts over committed iterations.

    Args:
        generation: the run's generation configuration, against which
            adherence is measured (factor-graph-only once the budget mode says so).
    """

    generation: GenerationConfig
    outcomes: GenerationCounters = field(default_factory=GenerationCounters)
    statuses: Counter[str] = field(default_factory=Counter)
    audit_records: int = 0
    champion_updates: int = 0
    repeats_rejected: int = 0
    """Candidates proposed that repeated a tried one (never evaluated; asked again)."""
    llm_usage: Usage = field(default_factory=Usage)
    """The LLM usage recorded so far, to restore the run's budget on resume."""

    def add(self, record: IterationRecord) -> None:
        """Count one committed record."""
        generation = self.generation
        if record.budget_mode == FACTOR_GRAPH_ONLY:
            generation = generation.model_copy(update={"use_factor_graph": True})
        self.outcomes.record(record.outcome, generation)
        self.statuses[record.status] += 1
        self.repeats_rejected += len(record.outcome.repeats)
        self.audit_records += record.audited
        self.champion_updates += record.champion
        if record.llm_usage is not None:
            self.llm_usage += record.llm_usage

    def snapshot(self) -> dict[str, Any]:
        """A JSON-ready view: the generation counters, then the loop's own."""
        statuses = self.statuses
        usage = self.llm_usage
        return {
            **self.outcomes.snapshot().as_dict(),
            "innovation_rate": self.generation.innovation_rate,
            "use_factor_graph": self.generation.use_factor_graph,
            "validation_errors": statuses["validation_failed"],
            "evaluations": statuses["evaluated"],
            "evaluation_failures": statuses["evaluation_failed"],
            "evaluation_timeouts": statuses["evaluation_timeout"],
            "repeats_rejected": self.repeats_rejected,
            "exhausted": statuses["exhausted"],
            "redundant": statuses["redundant"],
            "audit_records": self.audit_records,
            "champion_updates": self.champion_updates,
            "llm_tokens": usage.tokens,
            "llm_calls": usage.calls,
            "llm_cost": usage.cost,
        }
