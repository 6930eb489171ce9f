"""The loop's counters, accumulated from iteration records (so a resume rebuilds them).

The generation side (configuration-priority adherence, silent and explicit
fallbacks, the LLM share against ``innovation_rate``, strategy-selection
counts) is :class:`~stratloop.generation.GenerationCounters`, fed with the
outcome each record describes. The loop side adds validation errors,
evaluations, evaluation failures and timeouts, audit records written,
champion updates and the LLM usage.
"""

from __future__ import annotations

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
    validation_errors: int = 0
    evaluations: int = 0
    evaluation_failures: int = 0
    evaluation_timeouts: int = 0
    audit_records: int = 0
    champion_updates: int = 0
    llm_prompt_tokens: int = 0
    llm_completion_tokens: int = 0
    llm_calls: int = 0
    llm_cost: float = 0.0

    def add(self, record: IterationRecord) -> None:
        """Count one committed record."""
        generation = self.generation
        if record.budget_mode == FACTOR_GRAPH_ONLY:
            generation = generation.model_copy(update={"use_factor_graph": True})
        self.outcomes.record(record.outcome, generation)
        status = record.status
        self.validation_errors += status == "validation_failed"
        self.evaluations += status == "evaluated"
        self.evaluation_failures += status == "evaluation_failed"
        self.evaluation_timeouts += status == "evaluation_timeout"
        self.audit_records += record.audited
        self.champion_updates += record.champion
        usage = record.llm_usage
        if usage is not None:
            self.llm_prompt_tokens += usage.prompt_tokens
            self.llm_completion_tokens += usage.completion_tokens
            self.llm_calls += usage.calls
            self.llm_cost += usage.cost

    def usage(self) -> Usage:
        """The LLM usage recorded so far, to restore the run's budget on resume."""
        return Usage(
            prompt_tokens=self.llm_prompt_tokens,
            completion_tokens=self.llm_completion_tokens,
            cost=self.llm_cost,
            calls=self.llm_calls,
        )

    def snapshot(self) -> dict[str, Any]:
        """A JSON-ready view: the generation counters, then the loop's own."""
        result = self.outcomes.snapshot().as_dict()
        result.update(
            innovation_rate=self.generation.innovation_rate,
            use_factor_graph=self.generation.use_factor_graph,
            validation_errors=self.validation_errors,
            evaluations=self.evaluations,
            evaluation_failures=self.evaluation_failures,
            evaluation_timeouts=self.evaluation_timeouts,
            audit_records=self.audit_records,
            champion_updates=self.champion_updates,
            llm_tokens=self.llm_prompt_tokens + self.llm_completion_tokens,
            llm_calls=self.llm_calls,
            llm_cost=self.llm_cost,
        )
        return result
