"""Phase 1-2: the procedural path, the priority rule written as if/else.

This is the reference the Phase 3 strategies must equal, decision for decision
and candidate for candidate.
"""

from __future__ import annotations

from stratloop.generation._attempt import attempt
from stratloop.generation._requirements import require_llm
from stratloop.generation.base import CandidateSource
from stratloop.generation.context import GenerationContext
from stratloop.generation.decision import decide
from stratloop.generation.outcome import GenerationOutcome

__all__ = ["generate_procedural"]


def generate_procedural(
    ctx: GenerationContext, *, llm: CandidateSource | None, factor_graph: CandidateSource
) -> GenerationOutcome:
    """Decide with the Phase 1 rule and call the decided generator.

    Args:
        ctx: the iteration's context; its first draw is the decision's.
        llm: the LLM proposer, required when the configuration can mandate it.
        factor_graph: the factor-graph generator.

    Raises:
        ConfigConflictError: the configuration can mandate the LLM but ``llm`` is None.
    """
    generation = ctx.config.generation
    require_llm(ctx.config, llm)
    decision = decide(generation.use_factor_graph, generation.innovation_rate, ctx.rng.random())
    if decision.method == "llm":
        assert llm is not None  # require_llm guarantees it
        produce = llm.propose
    else:
        produce = factor_graph.propose
    return attempt(
        ctx,
        decision,
        implementation="procedural",
        selected="procedural",
        produce=produce,
        fallback=factor_graph.propose,
        policy=generation.on_llm_failure,
    )
