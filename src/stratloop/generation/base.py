"""The one-method protocols generation is built from (strategies are transports)."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from stratloop.generation.context import GenerationContext
from stratloop.generation.decision import Decision
from stratloop.spec import Candidate

__all__ = ["CandidateSource", "DecidingStrategy", "GenerationStrategy"]


@runtime_checkable
class GenerationStrategy(Protocol):
    """Produces one candidate for one iteration."""

    def generate(self, ctx: GenerationContext) -> Candidate:
        """Return a validated candidate or raise a :class:`~stratloop.errors.StratloopError`."""
        ...


@runtime_checkable
class DecidingStrategy(GenerationStrategy, Protocol):
    """A strategy whose decision can be recorded apart from its candidate.

    ``generate(ctx)`` is ``produce(ctx, decide(ctx))``; the dispatcher calls the
    two halves separately so the outcome carries the decision even when the
    generator fails.
    """

    @property
    def name(self) -> str:
        """The name recorded as ``strategy_selected``, e.g. ``MixedStrategy``."""
        ...

    def decide(self, ctx: GenerationContext) -> Decision:
        """Take the iteration's first draw and apply the priority rule."""
        ...

    def produce(self, ctx: GenerationContext, decision: Decision) -> Candidate:
        """Ask the generator the decision names for a candidate."""
        ...


@runtime_checkable
class CandidateSource(Protocol):
    """A generator injected into strategies: the LLM proposer or the factor-graph generator.

    It must not consume ``ctx.rng``'s first draw (the decision owns it); it
    continues the same stream after it.
    """

    def propose(self, ctx: GenerationContext) -> Candidate:
        """Return a validated candidate or raise a :class:`~stratloop.errors.StratloopError`."""
        ...
