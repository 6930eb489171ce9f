"""Function-backed candidate sources: inject a generator's behaviour without patching."""

from __future__ import annotations

from collections.abc import Callable

from stratloop.generation.context import GenerationContext
from stratloop.spec import Candidate

__all__ = ["FunctionSource"]


class FunctionSource:
    """A :class:`~stratloop.generation.base.CandidateSource` that calls ``handler``.

    Like httpx's ``MockTransport``: tests, benchmarks and the guide's checks
    give strategies a real callable instead of patching the LLM or the factor
    graph. The handler sees the same context, and the same generator after the
    decision's draw, that a real source would.

    Args:
        handler: called with the iteration's context; returns a candidate or
            raises a :class:`~stratloop.errors.StratloopError`.
    """

    __slots__ = ("_handler",)

    def __init__(self, handler: Callable[[GenerationContext], Candidate]) -> None:
        self._handler = handler

    def propose(self, ctx: GenerationContext) -> Candidate:
        """Return ``handler(ctx)``."""
        return self._handler(ctx)
