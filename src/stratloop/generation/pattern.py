"""Phase 3: generation through the strategy the factory selects."""

from __future__ import annotations

from stratloop.generation._attempt import attempt
from stratloop.generation.context import GenerationContext
from stratloop.generation.factory import StrategyFactory
from stratloop.generation.outcome import GenerationOutcome

__all__ = ["generate_with_strategy"]


def generate_with_strategy(ctx: GenerationContext, factory: StrategyFactory) -> GenerationOutcome:
    """Select the strategy for the iteration's configuration, decide, and generate.

    Args:
        ctx: the iteration's context; the strategy takes its first draw.
        factory: builds (and logs) the strategy with its generators injected.

    Raises:
        ConfigConflictError: the configuration can mandate the LLM but the
            factory has none.
    """
    strategy = factory.create(ctx.config)
    decision = strategy.decide(ctx)
    return attempt(
        ctx,
        decision,
        implementation="strategy_pattern",
        selected=strategy.name,
        produce=lambda c: strategy.produce(c, decision),
        fallback=factory.factor_graph.propose,
        policy=ctx.config.generation.on_llm_failure,
    )
