"""The one-method protocols generation is built from (strategies are transports)."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from stratloop.generation.context import GenerationContext
from stratloop.spec import Candidate

__all__ = ["CandidateSource", "GenerationStrategy"]


@runtime_checkable
class GenerationStrategy(Protocol):
    """Produces one candidate for one iteration."""

    def generate(self, ctx: GenerationContext) -> Candidate:
        """Return a validated candidate or raise a :class:`~stratloop.errors.StratloopError`."""
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
