"""The priority rule: which generator an iteration must use, and why.

Phase 1+ rule: ``use_factor_graph`` true -> factor graph, false -> LLM, null
-> the iteration's first draw ``u``: LLM iff ``u * 100 < innovation_rate``.
Phase 0 (legacy) rule: LLM iff the LLM is enabled and ``u * 100 <
innovation_rate``; ``use_factor_graph`` is ignored. Both are pure functions of
their inputs so the audit trail can recompute every decision afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypeAlias

from stratloop._types import GenerationMethod

__all__ = ["Decision", "DecisionRule", "decide", "decide_legacy"]

DecisionRule: TypeAlias = Literal[
    "explicit_factor_graph", "explicit_llm", "innovation_draw", "legacy_draw"
]


@dataclass(frozen=True, slots=True)
class Decision:
    """The method an iteration must use, with everything needed to check it."""

    method: GenerationMethod
    rule: DecisionRule
    use_factor_graph: bool | None
    innovation_rate: float
    draw: float
    reason: str


def decide(use_factor_graph: bool | None, innovation_rate: float, draw: float) -> Decision:
    """Apply the Phase 1+ priority rule to one draw ``u`` in ``[0, 1)``."""
    if use_factor_graph is True:
        return Decision(
            "factor_graph", "explicit_factor_graph", True, innovation_rate, draw,
            "use_factor_graph is true: the factor graph is mandated",
        )
    if use_factor_graph is False:
        return Decision(
            "llm", "explicit_llm", False, innovation_rate, draw,
            "use_factor_graph is false: the LLM is mandated",
        )
    return _draw_rule("innovation_draw", None, innovation_rate, draw)


def decide_legacy(llm_enabled: bool, innovation_rate: float, draw: float) -> Decision:
    """Apply the Phase 0 rule; ``use_factor_graph`` plays no part in it."""
    if not llm_enabled:
        return Decision(
            "factor_graph", "legacy_draw", None, innovation_rate, draw,
            "legacy: the LLM is disabled, so the factor graph runs",
        )
    return _draw_rule("legacy_draw", None, innovation_rate, draw)


def _draw_rule(
    rule: DecisionRule, use_factor_graph: bool | None, innovation_rate: float, draw: float
) -> Decision:
    scaled = draw * 100.0
    if scaled < innovation_rate:
        return Decision(
            "llm", rule, use_factor_graph, innovation_rate, draw,
            f"draw {scaled:.4f} < innovation_rate {innovation_rate:g}: LLM",
        )
    return Decision(
        "factor_graph", rule, use_factor_graph, innovation_rate, draw,
        f"draw {scaled:.4f} >= innovation_rate {innovation_rate:g}: factor graph",
    )
