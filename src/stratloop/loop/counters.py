"""The loop's counters, accumulated from history records (so a resume rebuilds them).

They are what the deployment guide monitors: configuration-priority adherence,
silent and explicit fallbacks, the LLM share against ``innovation_rate``,
validation errors, evaluation failures and timeouts, strategy-selection counts,
audit records written and champion updates.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from stratloop.config.models import GenerationConfig
from stratloop.generation.decision import decide
from stratloop.llm.budget import Usage

__all__ = ["LoopCounters"]


@dataclass(slots=True)
class LoopCounters:
    """Counts over committed iterations.

    Args:
        generation: the run's generation configuration: what it mandates is
            recomputed from each record's draw to measure adherence.
    """

    generation: GenerationConfig
    iterations: int = 0
    adherent: int = 0
    silent_fallbacks: int = 0
    explicit_fallbacks: int = 0
    generation_failures: int = 0
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
    decided: Counter[str] = field(default_factory=Counter)
    used: Counter[str] = field(default_factory=Counter)
    strategies: Counter[str] = field(default_factory=Counter)
    implementations: Counter[str] = field(default_factory=Counter)

    def mandated(self, record: Mapping[str, Any]) -> str:
        """The method the configuration mandates for this record's draw (Phase 1 rule)."""
        if record.get("budget_mode") == "factor_graph_only":
            return "factor_graph"
        gen = self.generation
        return decide(gen.use_factor_graph, gen.innovation_rate, record["decision"]["draw"]).method

    def add(self, record: Mapping[str, Any]) -> None:
        """Count one committed record."""
        self.iterations += 1
        decision = record["decision"]
        method_used = record.get("method_used")
        self.decided[decision["method"]] += 1
        if method_used is not None:
            self.used[method_used] += 1
        self.strategies[record["strategy_selected"]] += 1
        self.implementations[record["implementation"]] += 1
        if (method_used or decision["method"]) == self.mandated(record):
            self.adherent += 1
        fallback = record.get("fallback")
        if fallback is not None:
            if fallback["kind"] == "silent":
                self.silent_fallbacks += 1
            else:
                self.explicit_fallbacks += 1
        status = record["status"]
        self.generation_failures += status == "generation_failed"
        self.validation_errors += status == "validation_failed"
        self.evaluations += status == "evaluated"
        self.evaluation_failures += status == "evaluation_failed"
        self.evaluation_timeouts += status == "evaluation_timeout"
        self.audit_records += bool(record.get("audited"))
        self.champion_updates += bool(record.get("champion"))
        usage = record.get("llm_usage") or {}
        self.llm_prompt_tokens += int(usage.get("prompt_tokens", 0))
        self.llm_completion_tokens += int(usage.get("completion_tokens", 0))
        self.llm_calls += int(usage.get("calls", 0))
        self.llm_cost += float(usage.get("cost", 0.0))

    def usage(self) -> Usage:
        """The LLM usage recorded so far, to restore the run's budget on resume."""
        return Usage(
            prompt_tokens=self.llm_prompt_tokens,
            completion_tokens=self.llm_completion_tokens,
            cost=self.llm_cost,
            calls=self.llm_calls,
        )

    def snapshot(self) -> dict[str, Any]:
        """A JSON-ready view, with the derived rates."""
        n = self.iterations
        llm_used = self.used.get("llm", 0)
        return {
            "iterations": n,
            "configuration_priority_adherence": self.adherent / n if n else None,
            "silent_fallbacks": self.silent_fallbacks,
            "explicit_fallbacks": self.explicit_fallbacks,
            "llm_share": llm_used / n if n else None,
            "llm_decided_share": self.decided.get("llm", 0) / n if n else None,
            "innovation_rate": self.generation.innovation_rate,
            "use_factor_graph": self.generation.use_factor_graph,
            "generation_failures": self.generation_failures,
            "validation_errors": self.validation_errors,
            "evaluations": self.evaluations,
            "evaluation_failures": self.evaluation_failures,
            "evaluation_timeouts": self.evaluation_timeouts,
            "audit_records": self.audit_records,
            "champion_updates": self.champion_updates,
            "llm_tokens": self.llm_prompt_tokens + self.llm_completion_tokens,
            "llm_calls": self.llm_calls,
            "llm_cost": self.llm_cost,
            "methods_decided": dict(sorted(self.decided.items())),
            "methods_used": dict(sorted(self.used.items())),
            "strategy_selected": dict(sorted(self.strategies.items())),
            "implementations": dict(sorted(self.implementations.items())),
        }
