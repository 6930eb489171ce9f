from __future__ import annotations

import logging

import pytest

from stratloop.errors import ConfigConflictError
from stratloop.generation import (
    SELECTION_LOGGER,
    FactorGraphStrategy,
    LLMStrategy,
    MixedStrategy,
    StrategyFactory,
)
from stratloop.generation.testing import config_with, drawing_source

LLM = drawing_source("llm")
FG = drawing_source("factor_graph")


class TestStrategyFactory:
    @pytest.mark.parametrize(
        ("use_factor_graph", "kind"),
        [(True, FactorGraphStrategy), (False, LLMStrategy), (None, MixedStrategy)],
    )
    def test_selects_by_use_factor_graph(self, use_factor_graph, kind):
        """True, False and None select the three strategies."""
        strategy = StrategyFactory(LLM, FG).create(config_with(use_factor_graph, 30))
        assert type(strategy) is kind

    def test_injects_the_sources(self):
        """The built strategies hold exactly the injected generators."""
        factory = StrategyFactory(LLM, FG)
        mixed = factory.create(config_with(None, 30))
        assert isinstance(mixed, MixedStrategy)
        assert mixed.llm is LLM
        assert mixed.factor_graph is FG

    def test_reuses_one_instance_per_kind(self):
        """Strategies are stateless, so each kind is built once."""
        factory = StrategyFactory(LLM, FG)
        first = factory.create(config_with(None, 30))
        assert factory.create(config_with(None, 70)) is first

    @pytest.mark.parametrize(("use_factor_graph", "rate"), [(False, 0.0), (None, 0.5)])
    def test_missing_llm_when_needed_is_a_conflict(self, use_factor_graph, rate):
        """No LLM while the configuration can mandate it fails loudly, naming the fields."""
        factory = StrategyFactory(None, FG)
        with pytest.raises(ConfigConflictError, match=r"generation\.use_factor_graph"):
            factory.create(config_with(use_factor_graph, rate))

    @pytest.mark.parametrize("use_factor_graph", [True, None])
    def test_no_llm_is_fine_when_never_needed(self, use_factor_graph):
        """Factor graph only, or rate 0, needs no LLM."""
        rate = 0.0 if use_factor_graph is None else 50.0
        factory = StrategyFactory(None, FG)
        assert factory.create(config_with(use_factor_graph, rate)) is not None

    def test_logs_every_selection_with_the_strategy_name(self, caplog):
        """Each create logs the strategy's name and the fields that chose it."""
        factory = StrategyFactory(LLM, FG)
        with caplog.at_level(logging.INFO, logger=SELECTION_LOGGER):
            factory.create(config_with(True, 20))
            factory.create(config_with(None, 20))
        names = [record.strategy for record in caplog.records]
        assert names == ["FactorGraphStrategy", "MixedStrategy"]
        assert caplog.records[1].use_factor_graph is None
        assert "strategy selected: MixedStrategy" in caplog.records[1].getMessage()
