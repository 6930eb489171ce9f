"""The generators an iteration may call, and the Phase 3 strategies that carry the call.

:class:`Sources` holds the injected LLM proposer and factor-graph generator
and calls the one a decision names. The strategies (:class:`FactorGraphStrategy`,
:class:`LLMStrategy`, :class:`MixedStrategy`), built by :class:`StrategyFactory`
from ``generation.use_factor_graph``, are the guide's Phase 3 way to pick a
source. They hold no rule of their own: ``decide`` is
:func:`~stratloop.generation.decision.decide` on the iteration's first draw,
and the failure policy lives in :func:`~stratloop.generation.generate.generate`.
Strategies hold only their injected sources (slots, no per-iteration state),
so one instance serves every iteration.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Protocol, runtime_checkable

from stratloop.config.conflicts import llm_required
from stratloop.config.models import StratloopConfig
from stratloop.errors import ConfigConflictError, GenerationError, LLMUnavailableError
from stratloop.generation.context import GenerationContext
from stratloop.generation.decision import Decision, decide
from stratloop.spec import Candidate

__all__ = [
    "SELECTION_LOGGER",
    "CandidateSource",
    "DecidingStrategy",
    "FactorGraphStrategy",
    "FunctionSource",
    "FunctionStrategy",
    "GenerationStrategy",
    "LLMStrategy",
    "MixedStrategy",
    "Sources",
    "StrategyFactory",
    "require_llm",
]

SELECTION_LOGGER = "stratloop.generation.selection"
"""Name of the logger every strategy selection is logged to, at INFO."""

_logger = logging.getLogger(SELECTION_LOGGER)


@runtime_checkable
class CandidateSource(Protocol):
    """A generator: the LLM proposer or the factor-graph generator.

    It must not consume ``ctx.rng``'s first draw (the decision owns it); it
    continues the same stream after it.
    """

    def propose(self, ctx: GenerationContext) -> Candidate:
        """Return a validated candidate or raise a :class:`~stratloop.errors.StratloopError`."""
        ...


@runtime_checkable
class GenerationStrategy(Protocol):
    """Produces one candidate for one iteration."""

    def generate(self, ctx: GenerationContext) -> Candidate:
        """Return a validated candidate or raise a :class:`~stratloop.errors.StratloopError`."""
        ...


@runtime_checkable
class DecidingStrategy(GenerationStrategy, Protocol):
    """A strategy whose decision can be recorded apart from its candidate.

    ``generate(ctx)`` is ``produce(ctx, decide(ctx))``; the generation path
    keeps the two apart so the outcome carries the decision even when the
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


class FunctionSource:
    """A :class:`CandidateSource` that calls ``handler``.

    Like httpx's ``MockTransport``: tests, benchmarks and the guide's checks
    give the path a real callable instead of patching the LLM or the factor
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


class Sources:
    """The injected generators, read-only; :meth:`produce` calls the one a decision names.

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

    def produce(self, ctx: GenerationContext, decision: Decision) -> Candidate:
        """Ask the generator ``decision`` names.

        Raises:
            LLMUnavailableError: the LLM was decided but none was injected (only
                the legacy rule gets here; Phase 1+ refuses such a
                configuration with :func:`require_llm` first).
        """
        if decision.method == "factor_graph":
            return self._factor_graph.propose(ctx)
        if self._llm is None:
            raise LLMUnavailableError(
                "legacy: `llm.enabled` is true but no LLM client was provided"
            )
        return self._llm.propose(ctx)


def require_llm(config: StratloopConfig, llm: CandidateSource | None) -> None:
    """Raise when the configuration can mandate the LLM but no LLM client was injected.

    Whether it can is :func:`stratloop.config.llm_required`, the rule the
    configuration's conflict checks use, so the two never disagree.

    Raises:
        ConfigConflictError: naming the fields that require the LLM.
    """
    if llm is None and llm_required(config):
        generation = config.generation
        raise ConfigConflictError(
            "llm_required_but_missing",
            {
                "generation.use_factor_graph": generation.use_factor_graph,
                "generation.innovation_rate": generation.innovation_rate,
            },
            "this configuration can mandate the LLM, but no LLM client was provided",
            "configure `llm.enabled: true` with `llm.base_url`, or set "
            "`generation.use_factor_graph: true` (or null with `innovation_rate: 0`)",
        )


class _Strategy(ABC):
    """What every deciding strategy shares: its name, ``decide`` and ``generate``.

    ``decide`` refuses a configuration the strategy does not serve (a stale
    strategy after a configuration change), then applies the priority rule.
    """

    __slots__ = ()
    _serves: bool | None

    @property
    def name(self) -> str:
        """The class name, recorded as ``strategy_selected``."""
        return type(self).__name__

    def decide(self, ctx: GenerationContext) -> Decision:
        """Take the iteration's first draw and apply the priority rule."""
        generation = ctx.config.generation
        if generation.use_factor_graph is not self._serves:
            raise GenerationError(
                f"{self.name} serves `generation.use_factor_graph` = {self._serves} but the "
                f"iteration's configuration has {generation.use_factor_graph}; select the "
                "strategy again with StrategyFactory.create(config) whenever the "
                "configuration changes"
            )
        return decide(generation.use_factor_graph, generation.innovation_rate, ctx.rng.random())

    @abstractmethod
    def produce(self, ctx: GenerationContext, decision: Decision) -> Candidate:
        """Ask the generator ``decision`` names (each strategy says which it has)."""

    def generate(self, ctx: GenerationContext) -> Candidate:
        """Decide, then produce."""
        return self.produce(ctx, self.decide(ctx))


class _OneSource(_Strategy):
    """A strategy that always asks the one generator it was given."""

    __slots__ = ("_source",)

    def __init__(self, source: CandidateSource) -> None:
        self._source = source

    def produce(self, ctx: GenerationContext, decision: Decision) -> Candidate:
        """Ask the generator; ``decision`` always names it here."""
        del decision
        return self._source.propose(ctx)


class FactorGraphStrategy(_OneSource):
    """``use_factor_graph: true``: always mutate with the factor graph.

    Args:
        source: the factor-graph generator.
    """

    __slots__ = ()
    _serves = True

    @property
    def factor_graph(self) -> CandidateSource:
        """The injected factor-graph generator."""
        return self._source


class LLMStrategy(_OneSource):
    """``use_factor_graph: false``: always ask the LLM.

    Args:
        source: the LLM proposer.
    """

    __slots__ = ()
    _serves = False

    @property
    def llm(self) -> CandidateSource:
        """The injected LLM proposer."""
        return self._source


class MixedStrategy(Sources, _Strategy):
    """``use_factor_graph: null``: the LLM iff ``u * 100 < innovation_rate``.

    Args:
        llm: the LLM proposer; may be None only when ``innovation_rate`` is 0.
        factor_graph: the factor-graph generator.
    """

    __slots__ = ()
    _serves = None

    def produce(self, ctx: GenerationContext, decision: Decision) -> Candidate:
        """Ask the generator ``decision`` names.

        Raises:
            GenerationError: the LLM was drawn but the strategy has none.
        """
        if decision.method == "llm" and self._llm is None:
            raise GenerationError(
                f"MixedStrategy drew the LLM ({decision.reason}) but was built without one; "
                "build it with StrategyFactory, which requires an LLM when "
                "`generation.innovation_rate` > 0"
            )
        return super().produce(ctx, decision)


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


class StrategyFactory(Sources):
    """Builds the strategy a configuration mandates, with its generators injected.

    ``use_factor_graph`` true gives :class:`FactorGraphStrategy`, false gives
    :class:`LLMStrategy`, null gives :class:`MixedStrategy`. Strategies are
    stateless, so the factory builds each kind once and returns the same
    instance for every later iteration. Every selection is logged to
    :data:`SELECTION_LOGGER` with the strategy's name and the fields that chose it
    (``extra``: ``strategy``, ``use_factor_graph``, ``innovation_rate``).

    Args:
        llm: the LLM proposer, or None when the LLM is not configured.
        factor_graph: the factor-graph generator.
    """

    __slots__ = ("_built",)

    def __init__(self, llm: CandidateSource | None, factor_graph: CandidateSource) -> None:
        super().__init__(llm, factor_graph)
        self._built: dict[bool | None, DecidingStrategy] = {}

    def create(self, config: StratloopConfig) -> DecidingStrategy:
        """Select the strategy ``config.generation`` mandates and log the selection.

        Raises:
            ConfigConflictError: the configuration can mandate the LLM but no
                LLM was injected.
        """
        require_llm(config, self._llm)
        generation = config.generation
        key = generation.use_factor_graph
        strategy = self._built.get(key)
        if strategy is None:
            strategy = self._build(key)
            self._built[key] = strategy
        if _logger.isEnabledFor(logging.INFO):
            _logger.info(
                "strategy selected: %s (use_factor_graph=%s, innovation_rate=%g)",
                strategy.name,
                key,
                generation.innovation_rate,
                extra={
                    "strategy": strategy.name,
                    "use_factor_graph": key,
                    "innovation_rate": generation.innovation_rate,
                },
            )
        return strategy

    def _build(self, use_factor_graph: bool | None) -> DecidingStrategy:
        if use_factor_graph is True:
            return FactorGraphStrategy(self._factor_graph)
        if use_factor_graph is False:
            assert self._llm is not None  # require_llm guarantees it
            return LLMStrategy(self._llm)
        return MixedStrategy(self._llm, self._factor_graph)
