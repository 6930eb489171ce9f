"""The Phase 3 strategies: one class per way of choosing a generator.

Every strategy takes the iteration's first draw in ``decide`` (even when the
configuration mandates the method) and hands the rest of the stream to the
generator it calls, so its decisions and candidates equal the procedural
path's bit for bit. Strategies hold only their injected sources: they are
stateless and may serve any number of iterations.
"""

from __future__ import annotations

from collections.abc import Callable

from stratloop.errors import GenerationError
from stratloop.generation._injected import Injected
from stratloop.generation.base import CandidateSource
from stratloop.generation.context import GenerationContext
from stratloop.generation.decision import Decision, decide
from stratloop.spec import Candidate

__all__ = ["FactorGraphStrategy", "FunctionStrategy", "LLMStrategy", "MixedStrategy"]


def _decide(ctx: GenerationContext, serves: bool | None, name: str) -> Decision:
    """Check the context's configuration is the one ``name`` serves, then decide."""
    generation = ctx.config.generation
    if generation.use_factor_graph is not serves:
        raise GenerationError(
            f"{name} serves `generation.use_factor_graph` = {serves} but the iteration's "
            f"configuration has {generation.use_factor_graph}; select the strategy again with "
            "StrategyFactory.create(config) whenever the configuration changes"
        )
    return decide(generation.use_factor_graph, generation.innovation_rate, ctx.rng.random())


class FactorGraphStrategy:
    """``use_factor_graph: true``: always mutate with the factor graph.

    Args:
        factor_graph: the factor-graph generator.
    """

    __slots__ = ("_factor_graph",)

    def __init__(self, factor_graph: CandidateSource) -> None:
        self._factor_graph = factor_graph

    @property
    def name(self) -> str:
        """``FactorGraphStrategy``."""
        return "FactorGraphStrategy"

    @property
    def factor_graph(self) -> CandidateSource:
        """The injected factor-graph generator."""
        return self._factor_graph

    def decide(self, ctx: GenerationContext) -> Decision:
        """Take the first draw; the decision is always the factor graph."""
        return _decide(ctx, True, self.name)

    def produce(self, ctx: GenerationContext, decision: Decision) -> Candidate:
        """Ask the factor graph; ``decision`` is always the factor graph here."""
        del decision
        return self._factor_graph.propose(ctx)

    def generate(self, ctx: GenerationContext) -> Candidate:
        """Decide, then produce."""
        return self.produce(ctx, self.decide(ctx))


class LLMStrategy:
    """``use_factor_graph: false``: always ask the LLM.

    Args:
        llm: the LLM proposer.
    """

    __slots__ = ("_llm",)

    def __init__(self, llm: CandidateSource) -> None:
        self._llm = llm

    @property
    def name(self) -> str:
        """``LLMStrategy``."""
        return "LLMStrategy"

    @property
    def llm(self) -> CandidateSource:
        """The injected LLM proposer."""
        return self._llm

    def decide(self, ctx: GenerationContext) -> Decision:
        """Take the first draw; the decision is always the LLM."""
        return _decide(ctx, False, self.name)

    def produce(self, ctx: GenerationContext, decision: Decision) -> Candidate:
        """Ask the LLM; ``decision`` is always the LLM here."""
        del decision
        return self._llm.propose(ctx)

    def generate(self, ctx: GenerationContext) -> Candidate:
        """Decide, then produce."""
        return self.produce(ctx, self.decide(ctx))


class MixedStrategy(Injected):
    """``use_factor_graph: null``: the LLM iff ``u * 100 < innovation_rate``.

    Args:
        llm: the LLM proposer; may be None only when ``innovation_rate`` is 0.
        factor_graph: the factor-graph generator.
    """

    __slots__ = ()

    @property
    def name(self) -> str:
        """``MixedStrategy``."""
        return "MixedStrategy"

    def decide(self, ctx: GenerationContext) -> Decision:
        """Take the first draw and compare it with ``innovation_rate``."""
        return _decide(ctx, None, self.name)

    def produce(self, ctx: GenerationContext, decision: Decision) -> Candidate:
        """Ask the generator ``decision`` names."""
        if decision.method == "factor_graph":
            return self._factor_graph.propose(ctx)
        if self._llm is None:
            raise GenerationError(
                f"MixedStrategy drew the LLM ({decision.reason}) but was built without one; "
                "build it with StrategyFactory, which requires an LLM when "
                "`generation.innovation_rate` > 0"
            )
        return self._llm.propose(ctx)

    def generate(self, ctx: GenerationContext) -> Candidate:
        """Decide, then produce."""
        return self.produce(ctx, self.decide(ctx))


class FunctionStrategy:
    """A strategy that calls ``handler``: inject behaviour in tests without patching.

    Args:
        handler: called with the iteration's context; returns a candidate.
    """

    __slots__ = ("_handler",)

    def __init__(self, handler: Callable[[GenerationContext], Candidate]) -> None:
        self._handler = handler

    @property
    def name(self) -> str:
        """``FunctionStrategy``."""
        return "FunctionStrategy"

    def generate(self, ctx: GenerationContext) -> Candidate:
        """Return ``handler(ctx)``."""
        return self._handler(ctx)
