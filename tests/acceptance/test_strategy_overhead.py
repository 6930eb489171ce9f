from __future__ import annotations

import time

import pytest

from stratloop.acceptance.strategy_overhead import LatencySummary, measure_strategy_overhead
from stratloop.generation import FunctionSource
from stratloop.generation.testing import config_with, drawing_source

LLM = drawing_source("llm")
FG = drawing_source("factor_graph")


class TestLatencySummary:
    def test_nearest_rank_percentiles_in_microseconds(self):
        """Percentiles are nearest-rank over the sorted sample, ns converted to µs."""
        summary = LatencySummary.of([i * 1000 for i in range(1, 101)])
        assert (summary.p50_us, summary.p95_us, summary.p99_us, summary.max_us) == (
            50.0, 95.0, 99.0, 100.0,
        )
        assert summary.count == 100

    def test_empty_sample_is_an_error(self):
        """There is no percentile of nothing."""
        with pytest.raises(ValueError, match="empty"):
            LatencySummary.of([])


class TestMeasureStrategyOverhead:
    @pytest.mark.parametrize(
        ("value", "name"),
        [(True, "FactorGraphStrategy"), (False, "LLMStrategy"), (None, "MixedStrategy")],
    )
    def test_reports_the_selected_strategy_and_counts(self, value, name):
        """The report names the strategy and holds one sample per timed iteration."""
        report = measure_strategy_overhead(
            config_with(value, 50.0), 40, llm=LLM, factor_graph=FG, warmup=5
        )
        assert report.strategy == name
        assert report.selection.count == report.invocation_overhead.count == 40
        assert report.as_dict()["warmup"] == 5

    def test_excludes_the_generators_own_work(self):
        """A slow generator does not inflate the invocation overhead."""
        def slow(ctx):
            time.sleep(0.002)
            return FG.propose(ctx)

        report = measure_strategy_overhead(
            config_with(True, 0.0), 10, llm=None, factor_graph=FunctionSource(slow), warmup=0
        )
        assert report.invocation_overhead.p50_us < 1000.0

    def test_rejects_zero_iterations(self):
        """At least one timed iteration is needed."""
        with pytest.raises(ValueError, match="at least 1"):
            measure_strategy_overhead(config_with(True, 0.0), 0, llm=None, factor_graph=FG)
