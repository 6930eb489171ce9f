"""Phase 0: the legacy path, kept as the rollback target.

LLM iff the LLM is enabled and ``u * 100 < innovation_rate``;
``use_factor_graph`` and ``on_llm_failure`` are ignored, and an LLM failure
falls back to the factor graph without telling the user. The outcome still
records that fallback as ``Fallback(kind="silent")`` so metrics count it.
"""

from __future__ import annotations

from stratloop.errors import LLMUnavailableError
from stratloop.generation._attempt import attempt
from stratloop.generation.base import CandidateSource
from stratloop.generation.context import GenerationContext
from stratloop.generation.decision import decide_legacy
from stratloop.generation.outcome import GenerationOutcome
from stratloop.spec import Candidate

__all__ = ["generate_legacy"]


def generate_legacy(
    ctx: GenerationContext, *, llm: CandidateSource | None, factor_graph: CandidateSource
) -> GenerationOutcome:
    """Decide with the Phase 0 rule and generate, falling back silently on LLM failure.

    Args:
        ctx: the iteration's context; its first draw is the decision's.
        llm: the LLM proposer; when missing, an LLM decision falls back silently,
            as the legacy code did.
        factor_graph: the factor-graph generator.
    """
    config = ctx.config
    decision = decide_legacy(
        config.llm.enabled, config.generation.innovation_rate, ctx.rng.random()
    )
    if decision.method == "llm":
        produce = _missing_llm if llm is None else llm.propose
    else:
        produce = factor_graph.propose
    return attempt(
        ctx,
        decision,
        implementation="legacy",
        selected="legacy",
        produce=produce,
        fallback=factor_graph.propose,
        policy="silent",
    )


def _missing_llm(ctx: GenerationContext) -> Candidate:
    del ctx
    raise LLMUnavailableError("legacy: `llm.enabled` is true but no LLM client was provided")
