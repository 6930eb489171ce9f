from __future__ import annotations

import dataclasses

import pytest

from stratloop.acceptance.shadow import ShadowExperiment, compare_records, read_log, write_log
from stratloop.errors import LLMUnavailableError
from stratloop.generation.testing import config_with, drawing_source, failing_source

LLM = drawing_source("llm")
FG = drawing_source("factor_graph")


class TestShadowExperiment:
    @pytest.mark.parametrize("use_factor_graph", [True, False, None])
    def test_control_and_candidate_match_on_every_iteration(self, use_factor_graph):
        """Same seed, same contexts: decision, method and candidate id agree."""
        experiment = ShadowExperiment(config_with(use_factor_graph, 40.0), LLM, FG)
        results = [experiment.run(i) for i in range(50)]
        assert all(r is not None and r.matched for r in results)
        assert all("strategy_selected" in r.ignored_fields for r in results)
        assert experiment.internal_errors == []

    def test_failed_llm_iterations_match_too(self):
        """A failing LLM fails both sides identically."""
        down = failing_source(lambda: LLMUnavailableError("down"))
        experiment = ShadowExperiment(config_with(False, 0.0), down, FG)
        result = experiment.run(3)
        assert result is not None
        assert result.matched
        assert result.control.record.error_type == "LLMUnavailableError"

    def test_results_are_frozen(self):
        """Results cannot be edited after the fact."""
        result = ShadowExperiment(config_with(None, 50.0), LLM, FG).run(0)
        with pytest.raises(dataclasses.FrozenInstanceError):
            result.iteration = 1


class TestCompareRecords:
    def test_a_diverging_candidate_is_a_mismatch_not_ignored(self, tmp_path):
        """Different candidates are mismatches; missing iterations count against equivalence."""
        control = ShadowExperiment(config_with(None, 50.0), LLM, FG)
        other_fg = drawing_source("factor_graph")
        records = [control.run(i).control.record for i in range(10)]
        swapped = ShadowExperiment(config_with(None, 50.0, seed=7), LLM, other_fg)
        candidate = [swapped.run(i).candidate.record for i in range(9)]
        write_log(tmp_path / "a.json", records, {"implementation": "procedural"})
        comparison = compare_records(read_log(tmp_path / "a.json"), candidate)
        assert comparison.total == 10
        assert comparison.matched < 10
        assert any(m.fields == ("missing",) for m in comparison.mismatches)
        assert not comparison.passes(0.95)
