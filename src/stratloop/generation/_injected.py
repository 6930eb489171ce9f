"""The pair of generators the factory and the mixed strategy are given."""

from __future__ import annotations

from stratloop.generation.base import CandidateSource

__all__ = ["Injected"]


class Injected:
    """Holds the injected LLM proposer and factor-graph generator, read-only.

    Args:
        llm: the LLM proposer, or None when the LLM is not configured.
        factor_graph: the factor-graph generator.
    """

    __slots__ = ("_factor_graph", "_llm")

    def __init__(self, llm: CandidateSource | None, factor_graph: CandidateSource) -> None:
        self._llm = llm
        self._factor_graph = factor_graph

    @property
    def llm(self) -> CandidateSource | None:
        """The injected LLM proposer, if any."""
        return self._llm

    @property
    def factor_graph(self) -> CandidateSource:
        """The injected factor-graph generator."""
        return self._factor_graph
