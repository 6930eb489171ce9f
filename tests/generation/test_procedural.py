from __future__ import annotations

import pytest

from stratloop.errors import (
    ConfigConflictError,
    GenerationError,
    LLMEmptyResponseError,
    LLMGenerationError,
    MutationError,
)
from stratloop.generation import GenerationContext, generate_procedural
from stratloop.generation.testing import (
    config_with,
    constant_source,
    drawing_source,
    failing_source,
)
from stratloop.spec import Candidate, Strategy, TopN

FG = drawing_source("factor_graph")
LLM = drawing_source("llm")
EMPTY = failing_source(lambda: LLMEmptyResponseError("empty reply"))


def _ctx(use_factor_graph, rate, on_llm_failure="fail"):
    config = config_with(use_factor_graph, rate, on_llm_failure=on_llm_failure)
    return GenerationContext.create(config, 7)


class TestGenerateProcedural:
    def test_explicit_factor_graph(self):
        """use_factor_graph true produces a factor-graph candidate."""
        outcome = generate_procedural(_ctx(True, 0.0), llm=LLM, factor_graph=FG)
        assert (outcome.method_used, outcome.strategy_selected) == ("factor_graph", "procedural")
        assert outcome.fallback is None

    def test_llm_failure_with_fail_policy_returns_failed_outcome(self):
        """on_llm_failure fail: no candidate, the error type and message are kept."""
        outcome = generate_procedural(_ctx(False, 0.0), llm=EMPTY, factor_graph=FG)
        assert not outcome.succeeded
        assert outcome.method_used is None
        assert outcome.fallback is None
        assert outcome.error_type == "LLMEmptyResponseError"
        assert outcome.error_message == "empty reply"

    def test_llm_failure_with_fallback_policy_is_explicit(self):
        """fallback_to_factor_graph: a recorded, explicit fallback."""
        ctx = _ctx(False, 0.0, "fallback_to_factor_graph")
        outcome = generate_procedural(ctx, llm=EMPTY, factor_graph=FG)
        assert outcome.method_used == "factor_graph"
        assert outcome.fallback is not None
        assert outcome.fallback.kind == "explicit"
        assert "on_llm_failure" in outcome.fallback.reason
        assert outcome.error_type == "LLMEmptyResponseError"

    def test_failed_fallback_keeps_both_errors(self):
        """When the fallback fails too, the outcome fails with the fallback recorded."""
        broken = failing_source(lambda: MutationError("no valid child"))
        ctx = _ctx(False, 0.0, "fallback_to_factor_graph")
        outcome = generate_procedural(ctx, llm=EMPTY, factor_graph=broken)
        assert outcome.candidate is None
        assert outcome.fallback is not None
        assert outcome.fallback.error_type == "LLMEmptyResponseError"
        assert outcome.error_type == "MutationError"

    def test_factor_graph_failure_never_falls_back(self):
        """Only LLM failures may fall back; a factor-graph failure fails the iteration."""
        broken = failing_source(lambda: MutationError("no valid child"))
        ctx = _ctx(True, 0.0, "fallback_to_factor_graph")
        outcome = generate_procedural(ctx, llm=LLM, factor_graph=broken)
        assert (outcome.candidate, outcome.fallback, outcome.error_type) == (
            None, None, "MutationError",
        )

    def test_parse_error_cause_survives_in_message(self):
        """A chained LLMGenerationError is reported by its own type."""
        def raise_chained():
            error = LLMGenerationError("no valid spec in reply")
            error.__cause__ = ValueError("bad token")
            return error
        outcome = generate_procedural(
            _ctx(False, 0.0), llm=failing_source(raise_chained), factor_graph=FG
        )
        assert outcome.error_type == "LLMGenerationError"

    def test_missing_llm_is_a_config_conflict(self):
        """An LLM mandated by the configuration but not provided raises, never falls back."""
        with pytest.raises(ConfigConflictError, match="llm_required_but_missing"):
            generate_procedural(_ctx(None, 10.0), llm=None, factor_graph=FG)

    def test_mislabelled_candidate_is_a_generation_error(self):
        """A source returning another method's candidate is a programming error."""
        wrong = constant_source(Candidate(Strategy(expression="close", portfolio=TopN(n=1)), "llm"))
        with pytest.raises(GenerationError, match="marked 'llm'"):
            generate_procedural(_ctx(True, 0.0), llm=LLM, factor_graph=wrong)
