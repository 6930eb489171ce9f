"""StrategyFactory: the one place a configuration becomes a strategy."""

from __future__ import annotations

import logging

from stratloop.config.models import StratloopConfig
from stratloop.generation._injected import Injected
from stratloop.generation._requirements import require_llm
from stratloop.generation.base import CandidateSource, DecidingStrategy
from stratloop.generation.strategies import FactorGraphStrategy, LLMStrategy, MixedStrategy

__all__ = ["SELECTION_LOGGER", "StrategyFactory"]

SELECTION_LOGGER = "stratloop.generation.selection"
"""Name of the logger every selection is logged to, at INFO."""

_logger = logging.getLogger(SELECTION_LOGGER)


class StrategyFactory(Injected):
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
