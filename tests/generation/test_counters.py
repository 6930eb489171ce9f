from __future__ import annotations

import json

import pytest

from stratloop.errors import LLMUnavailableError
from stratloop.flags import Flags
from stratloop.generation import GenerationContext, GenerationCounters, generate_iteration
from stratloop.generation.counters import adheres
from stratloop.generation.testing import config_with, drawing_source, failing_source

FG = drawing_source("factor_graph")
LLM = drawing_source("llm")
DOWN = failing_source(lambda: LLMUnavailableError("down"))


FLAGS = {
    "legacy": Flags(master=False),
    "procedural": Flags(phase3=False),
    "strategy_pattern": Flags(),
}


def _run(path, config, n, llm=LLM):
    counters = GenerationCounters()
    for iteration in range(n):
        ctx = GenerationContext.create(config, iteration)
        outcome = generate_iteration(ctx, FLAGS[path], llm=llm, factor_graph=FG)
        counters.record(outcome, config.generation)
    return counters.snapshot()


class TestGenerationCounters:
    @pytest.mark.parametrize("use_factor_graph", [True, False])
    def test_explicit_choice_gives_full_adherence(self, use_factor_graph):
        """use_factor_graph true/false: 100% of iterations use the mandated method."""
        snap = _run("strategy_pattern", config_with(use_factor_graph, 50.0), 200)
        method = "factor_graph" if use_factor_graph else "llm"
        assert snap.priority_adherence == 1.0
        assert snap.methods_used == {method: 200}

    def test_llm_share_within_binomial_interval(self):
        """Null with rate r over 2,000 iterations: the LLM share is within the 99.9% interval."""
        snap = _run("procedural", config_with(None, 30.0), 2000)
        low, high = snap.llm_share_interval
        assert low <= snap.draw_llm_share <= high
        assert snap.expected_llm_share == pytest.approx(0.30)
        assert snap.silent_fallbacks == 0

    def test_legacy_with_failing_llm_counts_silent_fallbacks(self):
        """Master off and a failing LLM: every LLM draw is a counted silent fallback."""
        snap = _run("legacy", config_with(None, 60.0), 300, llm=DOWN)
        assert snap.silent_fallbacks == snap.llm_share * 300 > 0
        assert snap.priority_adherence == 1.0 - snap.silent_fallbacks / 300
        assert snap.fallbacks_by_error == {"LLMUnavailableError": snap.silent_fallbacks}

    def test_legacy_ignoring_use_factor_graph_is_not_adherent(self):
        """A legacy LLM pick while the configuration mandates the factor graph is a violation."""
        config = config_with(True, 100.0)
        ctx = GenerationContext.create(config, 0)
        outcome = generate_iteration(ctx, FLAGS["legacy"], llm=LLM, factor_graph=FG)
        assert not adheres(outcome, config.generation)

    def test_explicit_fallbacks_and_failures_are_adherent(self):
        """Configured fallbacks and configured failures both follow the configuration."""
        explicit = config_with(False, 0.0, on_llm_failure="fallback_to_factor_graph")
        fallback = _run("procedural", explicit, 10, DOWN)
        failing = _run("procedural", config_with(False, 0.0), 10, DOWN)
        assert (fallback.explicit_fallbacks, fallback.priority_adherence) == (10, 1.0)
        assert (failing.failures_by_error, failing.priority_adherence) == (
            {"LLMUnavailableError": 10}, 1.0,
        )

    def test_snapshot_is_frozen_and_json_ready(self):
        """as_dict serialises; the snapshot cannot be mutated."""
        snap = _run("strategy_pattern", config_with(None, 50.0), 20)
        data = json.loads(json.dumps(snap.as_dict()))
        assert data["iterations"] == 20
        assert data["strategy_selected"] == {"MixedStrategy": 20}
        assert data["decision_rules"] == {"innovation_draw": 20}
        with pytest.raises(AttributeError):
            snap.iterations = 3
        with pytest.raises(TypeError):
            snap.strategy_selected["x"] = 1

    def test_empty_counters_have_no_shares(self):
        """Before the first iteration, shares are None rather than a made-up number."""
        snap = GenerationCounters().snapshot()
        assert snap.priority_adherence is None
        assert snap.llm_share_interval is None
