from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from stratloop.errors import LLMGenerationError, LLMUnavailableError
from stratloop.generation import (
    FunctionSource,
    GenerationContext,
    StrategyFactory,
    generate_procedural,
    generate_with_strategy,
)
from stratloop.generation.testing import config_with, drawing_source, failing_source

FG = drawing_source("factor_graph")
LLM = drawing_source("llm")
FLAKY_LLM = failing_source(lambda: LLMUnavailableError("down"))


def _sometimes_failing_llm():
    """Fails on even draws: exercises both success and failure on the same stream."""
    good = drawing_source("llm")

    def propose(ctx):
        if ctx.rng.random() < 0.5:
            raise LLMGenerationError("prose, no spec")
        return good.propose(ctx)

    return FunctionSource(propose)


def _key(outcome):
    candidate = outcome.candidate
    return (
        outcome.decision,
        outcome.method_used,
        outcome.fallback,
        outcome.error_type,
        outcome.error_message,
        None if candidate is None else (candidate.candidate_id, candidate.lineage),
    )


configs = st.builds(
    config_with,
    st.sampled_from([True, False, None]),
    st.floats(0.0, 100.0, allow_nan=False),
    on_llm_failure=st.sampled_from(["fail", "fallback_to_factor_graph"]),
    seed=st.integers(0, 2**63 - 1),
)


class TestGenerateWithStrategy:
    @settings(max_examples=150, deadline=None)
    @given(config=configs, iteration=st.integers(0, 10**6), llm_kind=st.integers(0, 2))
    def test_equals_the_procedural_path_bit_for_bit(self, config, iteration, llm_kind):
        """Same seed and config: same decision, draw, fallback and candidate, whichever path."""
        llm = (LLM, FLAKY_LLM, _sometimes_failing_llm())[llm_kind]
        procedural = generate_procedural(
            GenerationContext.create(config, iteration), llm=llm, factor_graph=FG
        )
        pattern = generate_with_strategy(
            GenerationContext.create(config, iteration), StrategyFactory(llm, FG)
        )
        assert _key(procedural) == _key(pattern)
        assert pattern.implementation == "strategy_pattern"

    def test_records_the_selected_strategy_name(self):
        """strategy_selected names the strategy class."""
        outcome = generate_with_strategy(
            GenerationContext.create(config_with(None, 40.0), 1), StrategyFactory(LLM, FG)
        )
        assert outcome.strategy_selected == "MixedStrategy"

    def test_llm_failure_with_fail_policy_keeps_the_decision(self):
        """A failed LLM iteration still records the LLMStrategy decision."""
        outcome = generate_with_strategy(
            GenerationContext.create(config_with(False, 0.0), 1), StrategyFactory(FLAKY_LLM, FG)
        )
        assert outcome.decision.rule == "explicit_llm"
        assert outcome.strategy_selected == "LLMStrategy"
        assert outcome.error_type == "LLMUnavailableError"
