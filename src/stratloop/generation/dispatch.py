"""The one entry point the loop calls: flags choose the implementation."""

from __future__ import annotations

from stratloop.flags.model import Flags
from stratloop.generation.base import CandidateSource
from stratloop.generation.context import GenerationContext
from stratloop.generation.factory import StrategyFactory
from stratloop.generation.legacy import generate_legacy
from stratloop.generation.outcome import GenerationOutcome, Implementation
from stratloop.generation.pattern import generate_with_strategy
from stratloop.generation.procedural import generate_procedural

__all__ = ["generate_iteration", "implementation_for"]


def implementation_for(flags: Flags) -> Implementation:
    """The code path the flags select.

    Master off, or Phase 1 off (no priority rule), runs the legacy path; Phase
    3 on runs the strategy pattern; otherwise the procedural Phase 1-2 path.
    """
    if not flags.master or not flags.enforcement:
        return "legacy"
    return "strategy_pattern" if flags.strategy_pattern else "procedural"


def generate_iteration(
    ctx: GenerationContext,
    flags: Flags,
    *,
    llm: CandidateSource | None,
    factor_graph: CandidateSource,
) -> GenerationOutcome:
    """Decide and generate one iteration's candidate with the implementation the flags select.

    An LLM or generator failure never raises: it is returned as an outcome
    with no candidate (or, when configured, an explicit fallback).

    Args:
        ctx: the iteration's context; its first draw is the decision's.
        flags: the flags in force at this iteration boundary.
        llm: the LLM proposer, or None when no LLM is configured.
        factor_graph: the factor-graph generator.

    Raises:
        ConfigConflictError: Phase 1+ and the configuration can mandate the LLM
            but ``llm`` is None.
        GenerationError: a strategy served a configuration it was not built
            for, or a generator mislabelled its candidate.
    """
    implementation = implementation_for(flags)
    if implementation == "legacy":
        return generate_legacy(ctx, llm=llm, factor_graph=factor_graph)
    if implementation == "procedural":
        return generate_procedural(ctx, llm=llm, factor_graph=factor_graph)
    return generate_with_strategy(ctx, StrategyFactory(llm, factor_graph))
