from __future__ import annotations

import pytest

from stratloop.errors import GenerationError
from stratloop.generation import (
    FactorGraphStrategy,
    GenerationContext,
    LLMStrategy,
    MixedStrategy,
    iteration_rng,
)
from stratloop.generation.testing import config_with, drawing_source

LLM = drawing_source("llm")
FG = drawing_source("factor_graph")


def _ctx(use_factor_graph: bool | None, rate: float = 50.0, iteration: int = 3):
    return GenerationContext.create(config_with(use_factor_graph, rate), iteration)


class TestFactorGraphStrategy:
    def test_decides_factor_graph_with_the_first_draw(self):
        """The decision is the factor graph and its draw is the rng's first."""
        ctx = _ctx(True, 100.0)
        decision = FactorGraphStrategy(FG).decide(ctx)
        assert decision.method == "factor_graph"
        assert decision.rule == "explicit_factor_graph"
        assert decision.draw == iteration_rng(42, 3).random()

    def test_generate_returns_the_factor_graph_candidate(self):
        """Generate calls the injected factor graph, which continues the stream."""
        candidate = FactorGraphStrategy(FG).generate(_ctx(True))
        expected_rng = iteration_rng(42, 3)
        expected_rng.random()
        assert candidate.method == "factor_graph"
        assert candidate.strategy.expression == (
            f"rank(ts_mean(returns, {int(expected_rng.integers(2, 253))}))"
        )

    def test_refuses_a_context_whose_configuration_it_does_not_serve(self):
        """A stale strategy after a configuration change is an explicit error."""
        with pytest.raises(GenerationError, match="FactorGraphStrategy serves"):
            FactorGraphStrategy(FG).decide(_ctx(None))


class TestLLMStrategy:
    def test_decides_llm_even_at_rate_zero(self):
        """use_factor_graph false mandates the LLM whatever the rate."""
        decision = LLMStrategy(LLM).decide(_ctx(False, 0.0))
        assert (decision.method, decision.rule) == ("llm", "explicit_llm")

    def test_generate_marks_candidate_llm(self):
        """The candidate comes from the injected LLM source."""
        assert LLMStrategy(LLM).generate(_ctx(False)).method == "llm"

    def test_refuses_mixed_configuration(self):
        """LLMStrategy does not serve use_factor_graph null."""
        with pytest.raises(GenerationError, match="LLMStrategy serves"):
            LLMStrategy(LLM).generate(_ctx(None))


class TestMixedStrategy:
    @pytest.mark.parametrize("rate", [0.0, 25.0, 50.0, 99.5, 100.0])
    def test_decision_follows_the_draw(self, rate):
        """LLM iff the first draw times 100 is below innovation_rate."""
        for iteration in range(40):
            ctx = _ctx(None, rate, iteration)
            decision = MixedStrategy(LLM, FG).decide(ctx)
            draw = iteration_rng(42, iteration).random()
            assert decision.draw == draw
            assert decision.method == ("llm" if draw * 100 < rate else "factor_graph")

    def test_produce_calls_the_decided_source(self):
        """Produce routes to the generator the decision names."""
        strategy = MixedStrategy(LLM, FG)
        for iteration in range(20):
            ctx = _ctx(None, 50.0, iteration)
            decision = strategy.decide(ctx)
            assert strategy.produce(ctx, decision).method == decision.method

    def test_llm_draw_without_llm_is_an_error(self):
        """A MixedStrategy built without an LLM cannot silently use the factor graph."""
        strategy = MixedStrategy(None, FG)
        ctx = _ctx(None, 100.0)
        decision = strategy.decide(ctx)
        with pytest.raises(GenerationError, match="built without one"):
            strategy.produce(ctx, decision)


class TestStatelessness:
    @pytest.mark.parametrize(
        "strategy", [FactorGraphStrategy(FG), LLMStrategy(LLM), MixedStrategy(LLM, FG)]
    )
    def test_strategies_hold_no_per_instance_state(self, strategy):
        """Slots only, no __dict__: nothing can leak from one iteration to the next."""
        assert not hasattr(strategy, "__dict__")
        with pytest.raises(AttributeError):
            strategy.remembered = 1
