"""The deployment guide's Phase 3 tests: strategy pattern, factory and equivalence.

Run as the guide does: ``pytest tests/learning/test_generation_strategies.py -v``.
The guide counts 15 Phase 3 tests; this file holds exactly those.
"""

from __future__ import annotations

import dataclasses
import logging

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from run_helpers import AUDIT_OFF as PHASE_1_TO_3
from stratloop.errors import ConfigConflictError, LLMEmptyResponseError, LLMUnavailableError
from stratloop.flags import EnvFlagSource
from stratloop.generation import (
    SELECTION_LOGGER,
    FactorGraphStrategy,
    FunctionStrategy,
    GenerationContext,
    GenerationStrategy,
    LLMStrategy,
    MixedStrategy,
    Sources,
    StrategyFactory,
    generate,
    generate_iteration,
    iteration_rng,
)
from stratloop.generation.testing import config_with, drawing_source, failing_source
from stratloop.spec import Candidate, Strategy, TopN

LLM = drawing_source("llm")
FG = drawing_source("factor_graph")
EMPTY = failing_source(lambda: LLMEmptyResponseError("the endpoint answered with nothing"))



def _ctx(use_factor_graph, rate=50.0, iteration=0, **kwargs):
    return GenerationContext.create(config_with(use_factor_graph, rate, **kwargs), iteration)


def _procedural(ctx, llm):
    """Phase 1-2: the priority rule calling the generators directly."""
    return generate(ctx, "priority", Sources(llm, FG), ctx.config.generation.on_llm_failure)


def _with_strategy(ctx, llm):
    """Phase 3: the priority rule through the strategy the factory selects."""
    factory = StrategyFactory(llm, FG)
    return generate(ctx, "priority", factory, ctx.config.generation.on_llm_failure)


def _comparable(outcome):
    candidate = outcome.candidate
    return (
        outcome.decision,
        outcome.method_used,
        outcome.fallback,
        outcome.error_type,
        None if candidate is None else (candidate.candidate_id, candidate.lineage),
    )


class TestStrategySelection:
    def test_use_factor_graph_true_selects_factor_graph_strategy(self):
        """use_factor_graph=True -> FactorGraphStrategy."""
        strategy = StrategyFactory(LLM, FG).create(config_with(True, 0.0))
        assert type(strategy) is FactorGraphStrategy

    def test_use_factor_graph_false_selects_llm_strategy(self):
        """use_factor_graph=False -> LLMStrategy."""
        strategy = StrategyFactory(LLM, FG).create(config_with(False, 0.0))
        assert type(strategy) is LLMStrategy

    def test_use_factor_graph_none_selects_mixed_strategy(self):
        """use_factor_graph=None -> MixedStrategy."""
        strategy = StrategyFactory(LLM, FG).create(config_with(None, 30.0))
        assert type(strategy) is MixedStrategy

    def test_selection_is_logged_with_the_strategy_name(self, caplog):
        """Every selection is logged with the strategy's name and the deciding fields."""
        with caplog.at_level(logging.INFO, logger=SELECTION_LOGGER):
            _with_strategy(_ctx(False, 0.0), LLM)
        (record,) = caplog.records
        assert record.strategy == "LLMStrategy"
        assert record.use_factor_graph is False
        assert "LLMStrategy" in record.getMessage()


class TestStrategyFactory:
    def test_injects_llm_client_and_factor_graph_generator(self):
        """The strategies hold and call exactly the injected generators."""
        mixed = StrategyFactory(LLM, FG).create(config_with(None, 50.0))
        assert isinstance(mixed, MixedStrategy)
        assert (mixed.llm, mixed.factor_graph) == (LLM, FG)
        assert isinstance(mixed, GenerationStrategy)

    def test_missing_llm_client_is_a_configuration_conflict(self):
        """An LLM the configuration mandates but nobody provided is an explicit error."""
        with pytest.raises(ConfigConflictError, match="llm_required_but_missing"):
            StrategyFactory(None, FG).create(config_with(False, 0.0))

    def test_context_passed_to_strategies_is_immutable(self):
        """The context and its configuration refuse mutation, before and after generate."""
        ctx = _ctx(None)
        StrategyFactory(LLM, FG).create(ctx.config).generate(ctx)
        with pytest.raises(dataclasses.FrozenInstanceError):
            ctx.iteration = 1
        with pytest.raises(TypeError):
            ctx.extras["hint"] = "x"
        with pytest.raises(ValueError, match="frozen"):
            ctx.config.generation.innovation_rate = 0.0

    def test_strategies_are_stateless_and_reusable(self):
        """One instance serves many iterations; results depend only on the context."""
        factory = StrategyFactory(LLM, FG)
        strategy = factory.create(config_with(None, 50.0))
        first = strategy.generate(_ctx(None, iteration=11))
        for iteration in range(30):
            strategy.generate(_ctx(None, iteration=iteration))
        assert factory.create(config_with(None, 50.0)) is strategy
        assert strategy.generate(_ctx(None, iteration=11)) == first
        assert not hasattr(strategy, "__dict__")

    def test_function_strategy_injects_behaviour_without_patching(self):
        """FunctionStrategy is a GenerationStrategy backed by a plain callable."""
        fixed = Candidate(Strategy(expression="rank(returns)", portfolio=TopN(n=3)), "llm")
        strategy = FunctionStrategy(lambda _ctx: fixed)
        assert isinstance(strategy, GenerationStrategy)
        assert strategy.generate(_ctx(None)) is fixed


class TestBehaviouralEquivalence:
    def test_decision_takes_the_first_draw_even_when_explicit(self):
        """Every strategy records the rng's first draw, so streams stay aligned."""
        expected = iteration_rng(42, 4).random()
        for value in (True, False, None):
            rate = 0.0 if value is True else 50.0
            strategy = StrategyFactory(LLM, FG).create(config_with(value, rate))
            assert strategy.decide(_ctx(value, rate, iteration=4)).draw == expected

    @settings(max_examples=100, deadline=None)
    @given(
        value=st.sampled_from([True, False, None]),
        rate=st.floats(0.0, 100.0),
        policy=st.sampled_from(["fail", "fallback_to_factor_graph"]),
        seed=st.integers(0, 2**32),
        iteration=st.integers(0, 100_000),
        failing=st.booleans(),
    )
    def test_strategy_pattern_equals_procedural_bit_for_bit(
        self, value, rate, policy, seed, iteration, failing
    ):
        """Same seed and configuration: identical decisions and candidates on both paths."""
        config = config_with(value, rate, on_llm_failure=policy, seed=seed)
        llm = EMPTY if failing else LLM
        old = _procedural(GenerationContext.create(config, iteration), llm)
        new = _with_strategy(GenerationContext.create(config, iteration), llm)
        assert _comparable(old) == _comparable(new)

    def test_llm_failure_with_fail_policy_records_a_failed_iteration(self):
        """on_llm_failure: fail -> no candidate, the typed error recorded, no fallback."""
        down = failing_source(lambda: LLMUnavailableError("down"))
        outcome = _with_strategy(_ctx(False, 0.0), down)
        assert (outcome.candidate, outcome.fallback) == (None, None)
        assert outcome.error_type == "LLMUnavailableError"

    def test_llm_failure_with_fallback_policy_is_explicit_and_recorded(self):
        """on_llm_failure: fallback_to_factor_graph -> an explicit, recorded fallback."""
        ctx = _ctx(False, 0.0, on_llm_failure="fallback_to_factor_graph")
        outcome = _with_strategy(ctx, EMPTY)
        assert outcome.method_used == "factor_graph"
        assert outcome.fallback is not None
        assert outcome.fallback.kind == "explicit"
        assert outcome.fallback.error_type == "LLMEmptyResponseError"


class TestPhase3Flag:
    def test_phase3_flag_selects_the_strategy_pattern(self, monkeypatch):
        """With the guide's Phase 1-3 exports, generation runs through the strategies."""
        for name, value in PHASE_1_TO_3.items():
            monkeypatch.setenv(name, value)
        flags = EnvFlagSource().current()
        outcome = generate_iteration(_ctx(None, 50.0, 2), flags, llm=LLM, factor_graph=FG)
        assert outcome.implementation == "strategy_pattern"
        assert outcome.strategy_selected == "MixedStrategy"

    def test_rollback_to_phase_1_2_keeps_the_same_results(self, monkeypatch):
        """PHASE3_STRATEGY_PATTERN=false runs the procedural path with equal outcomes."""
        for name, value in PHASE_1_TO_3.items():
            monkeypatch.setenv(name, value)
        on = generate_iteration(_ctx(None, 50.0, 8), EnvFlagSource().current(), llm=LLM,
                                factor_graph=FG)
        monkeypatch.setenv("PHASE3_STRATEGY_PATTERN", "false")
        off = generate_iteration(_ctx(None, 50.0, 8), EnvFlagSource().current(), llm=LLM,
                                 factor_graph=FG)
        assert (on.implementation, off.implementation) == ("strategy_pattern", "procedural")
        assert _comparable(on) == _comparable(off)
