"""The decision rule: which generator an iteration must use, and why.

One function, :func:`decide`, holds both rules the flags can select:

- ``priority`` (Phase 1+): ``use_factor_graph`` true -> factor graph, false ->
  LLM, null -> the iteration's first draw ``u``: LLM iff ``u * 100 <
  innovation_rate``.
- ``legacy`` (Phase 0): LLM iff the LLM is enabled and ``u * 100 <
  innovation_rate``; ``use_factor_graph`` is ignored.

It is a pure function of its inputs, so the generation path, the counters and
the audit trail's violation check all call it and can never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypeAlias

from stratloop._types import GenerationMethod

__all__ = ["DRAW_RULES", "Decision", "DecisionRule", "Rule", "decide"]

Rule: TypeAlias = Literal["priority", "legacy"]
"""Which rule decides: Phase 1+ priority, or Phase 0 legacy."""

DecisionRule: TypeAlias = Literal[
    "explicit_factor_graph", "explicit_llm", "innovation_draw", "legacy_draw"
]
"""The branch of the rule that decided, as recorded."""

DRAW_RULES: frozenset[DecisionRule] = frozenset({"innovation_draw", "legacy_draw"})
"""The branches decided by the draw (the ones whose LLM share follows ``innovation_rate``)."""


@dataclass(frozen=True, slots=True)
class Decision:
    """The method an iteration must use, with everything needed to check it."""

    method: GenerationMethod
    rule: DecisionRule
    use_factor_graph: bool | None
    innovation_rate: float
    draw: float
    reason: str


def decide(
    use_factor_graph: bool | None,
    innovation_rate: float,
    draw: float,
    *,
    rule: Rule = "priority",
    llm_enabled: bool = True,
) -> Decision:
    """Apply ``rule`` to the configuration's fields and one draw ``u`` in ``[0, 1)``.

    Args:
        use_factor_graph: ``generation.use_factor_graph`` (ignored by ``legacy``).
        innovation_rate: ``generation.innovation_rate``, in percent.
        draw: the iteration's first draw.
        rule: ``priority`` (Phase 1+) or ``legacy`` (Phase 0).
        llm_enabled: ``llm.enabled`` (read by ``legacy`` only).
    """
    if rule == "legacy":
        if not llm_enabled:
            return Decision(
                "factor_graph", "legacy_draw", None, innovation_rate, draw,
                "legacy: the LLM is disabled, so the factor graph runs",
            )
        return _by_draw("legacy_draw", innovation_rate, draw)
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
    return _by_draw("innovation_draw", innovation_rate, draw)


def _by_draw(rule: DecisionRule, innovation_rate: float, draw: float) -> Decision:
    scaled = draw * 100.0
    if scaled < innovation_rate:
        return Decision(
            "llm", rule, None, innovation_rate, draw,
            f"draw {scaled:.4f} < innovation_rate {innovation_rate:g}: LLM",
        )
    return Decision(
        "factor_graph", rule, None, innovation_rate, draw,
        f"draw {scaled:.4f} >= innovation_rate {innovation_rate:g}: factor graph",
    )
