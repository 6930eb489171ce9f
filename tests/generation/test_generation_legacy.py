from __future__ import annotations

from stratloop.errors import LLMUnavailableError
from stratloop.generation import GenerationContext, generate_legacy, iteration_rng
from stratloop.generation.testing import config_with, drawing_source, failing_source

FG = drawing_source("factor_graph")
LLM = drawing_source("llm")
DOWN = failing_source(lambda: LLMUnavailableError("endpoint down"))


def _ctx(use_factor_graph, rate, *, llm_enabled=True, iteration=0):
    config = config_with(use_factor_graph, rate, llm_enabled=llm_enabled)
    return GenerationContext.create(config, iteration)


class TestGenerateLegacy:
    def test_ignores_use_factor_graph(self):
        """use_factor_graph true does not stop the legacy draw from choosing the LLM."""
        outcome = generate_legacy(_ctx(True, 100.0), llm=LLM, factor_graph=FG)
        assert outcome.decision.rule == "legacy_draw"
        assert outcome.method_used == "llm"

    def test_llm_disabled_means_factor_graph(self):
        """With the LLM disabled the legacy rule always picks the factor graph."""
        outcome = generate_legacy(_ctx(None, 100.0, llm_enabled=False), llm=LLM, factor_graph=FG)
        assert outcome.method_used == "factor_graph"
        assert outcome.decision.draw == iteration_rng(42, 0).random()

    def test_llm_failure_falls_back_silently_but_is_recorded(self):
        """The silent fallback still carries Fallback(kind='silent') for metrics."""
        outcome = generate_legacy(_ctx(None, 100.0), llm=DOWN, factor_graph=FG)
        assert outcome.implementation == "legacy"
        assert outcome.method_used == "factor_graph"
        assert outcome.fallback is not None
        assert outcome.fallback.kind == "silent"
        assert outcome.fallback.error_type == "LLMUnavailableError"

    def test_missing_llm_client_falls_back_silently(self):
        """Legacy with llm enabled but no client behaves as an unavailable LLM."""
        outcome = generate_legacy(_ctx(None, 100.0), llm=None, factor_graph=FG)
        assert outcome.fallback is not None
        assert outcome.fallback.error_type == "LLMUnavailableError"
        assert outcome.candidate is not None
