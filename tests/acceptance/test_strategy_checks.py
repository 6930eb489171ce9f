from __future__ import annotations

import pytest

from stratloop.acceptance.strategy_checks import (
    check_strategy_factory,
    check_strategy_selection,
    config_for_case,
)
from stratloop.generation import FunctionSource
from stratloop.generation.testing import config_with, drawing_source
from stratloop.spec import Candidate, Strategy, TopN

LLM = drawing_source("llm")
FG = drawing_source("factor_graph")


class TestConfigForCase:
    @pytest.mark.parametrize("value", [True, False, None])
    def test_overlays_use_factor_graph_on_the_base(self, value):
        """The case's value replaces the base's, the rest of the base stays."""
        base = config_with(False, 30.0, seed=7)
        config = config_for_case(base, value)
        assert config.generation.use_factor_graph is value
        assert config.loop.seed == 7

    def test_true_case_avoids_the_rate_100_conflict(self):
        """use_factor_graph true with rate 100 is a conflict, so the case lowers the rate."""
        assert config_for_case(config_with(None, 100.0), True).generation.innovation_rate == 50.0


class TestCheckStrategySelection:
    def test_all_four_cases_pass_with_the_real_factory(self):
        """The guide's three selection cases plus the logging case pass."""
        report = check_strategy_selection(config_with(None, 20.0), llm=LLM, factor_graph=FG)
        assert report.passed
        assert len(report.results) == 4
        assert "MixedStrategy" in report.results[2].name


class TestCheckStrategyFactory:
    def test_all_four_cases_pass(self):
        """Instances, injection, immutable context and lifecycle all pass."""
        report = check_strategy_factory(config_with(None, 20.0), llm=LLM, factor_graph=FG)
        assert report.passed, report.as_dict()
        assert [r.passed for r in report.results] == [True] * 4

    def test_a_source_that_keeps_state_fails_the_lifecycle_check(self):
        """A generator whose candidates depend on earlier iterations is reported."""
        calls = []

        def leaky(ctx):
            calls.append(ctx.iteration)
            strategy = Strategy(
                expression=f"rank(ts_mean(returns, {len(calls) + 1}))", portfolio=TopN(n=2)
            )
            return Candidate(strategy, "factor_graph")

        report = check_strategy_factory(
            config_with(None, 0.0), llm=LLM, factor_graph=FunctionSource(leaky)
        )
        lifecycle = report.results[3]
        assert not lifecycle.passed
        assert not report.passed
