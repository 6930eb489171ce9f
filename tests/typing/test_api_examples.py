"""The typed API examples also run and give sensible results."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import api_examples as examples
import pytest

import stratloop
from run_helpers import ALL_ON as PHASE4
from stratloop.backtest import evaluate_strategy
from stratloop.config import default_config
from stratloop.data import synthetic_panel
from stratloop.spec import Strategy, TopN


class TestApiExamples:
    def test_backtest_example_reports_finite_train_and_validation_metrics(self):
        """The embedded-data example yields finite Sharpe ratios for the train block and folds."""
        train, validation = examples.one_backtest()
        assert math.isfinite(train.sharpe)
        assert math.isfinite(validation.sharpe)
        assert validation.n_days > train.n_days > 0

    def test_generation_example_honours_the_default_configuration(self):
        """The default configuration mandates the factor graph, and the decision rechecks."""
        outcome = examples.one_generation()
        assert outcome.method_used == "factor_graph"
        assert examples.recheck(outcome, default_config())

    def test_draws_are_reproducible_per_seed(self):
        """The same seed gives the same first draws; another seed does not."""
        assert examples.draws(7) == examples.draws(7)
        assert examples.draws(7) != examples.draws(8)

    def test_untrusted_text_yields_none_not_an_exception(self):
        """A misspelt operator is a typed error, turned into None by the example."""
        assert examples.safe("ts_maen(close, 3)") is None
        assert examples.safe("ts_mean(close, 3)") is not None




class TestResearcherApi:
    def test_importing_stratloop_loads_no_heavy_dependency(self):
        """``import stratloop`` alone imports neither numpy, pandas, pydantic nor openai."""
        code = (
            "import sys, stratloop\n"
            "heavy = {'numpy', 'pandas', 'pydantic', 'openai'}\n"
            "print(sorted(heavy & {m.partition('.')[0] for m in sys.modules}))\n"
        )
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout
        assert out.strip() == "[]"

    def test_every_top_level_name_resolves(self):
        """Each name of ``stratloop.__all__`` loads from its module on first use."""
        assert all(getattr(stratloop, name) is not None for name in stratloop.__all__)
        with pytest.raises(AttributeError, match="no attribute 'nonexistent'"):
            _ = stratloop.nonexistent

    def test_an_expression_backtests_with_daily_returns_per_segment_and_benchmark(self):
        """Train, validation and holdout in order, each with its and the benchmark's returns."""
        result = stratloop.backtest_strategy("rank(ts_mean(returns, 20))", holdout=True)
        assert result.holdout is not None
        segments = (result.train, result.validation, result.holdout)
        for segment in segments:
            assert segment.benchmark_returns is not None
            assert len(segment.returns) == len(segment.dates) == len(segment.benchmark_returns) > 0
        assert result.train.dates[-1] < result.validation.dates[0]
        assert result.validation.dates[-1] < result.holdout.dates[0]
        sharpe, returns = examples.researcher_backtest("rank(ts_mean(returns, 20))")
        assert sharpe == result.holdout.metrics.sharpe
        assert (returns == result.holdout.returns).all()

    def test_the_research_call_reports_what_the_loop_records(self):
        """Same spec, panel and configuration: the loop's evaluation and the research call agree."""
        panel = synthetic_panel(20, 400, seed=3)
        config = default_config().backtest
        spec = Strategy(expression="rank(ts_mean(returns, 20))", portfolio=TopN(n=5))
        research = stratloop.backtest_strategy(spec, panel, config).evaluation
        assert research.as_dict() == evaluate_strategy(spec, panel, config).as_dict()
        assert math.isfinite(examples.researcher_spec_backtest(panel).sharpe)

    def test_a_run_reads_back_typed_and_its_trail_verifies(self, tmp_path):
        """Run, then describe, read and verify it through the top-level API."""
        trail = tmp_path / "audit.jsonl"
        status, records = examples.researcher_run(tmp_path / "runs", trail, PHASE4)
        assert status == "completed"
        assert [r.iteration_num for r in records] == [0, 1, 2, 3]
        assert examples.researcher_verify(trail)


class TestReadmeExample:
    def test_the_python_api_example_runs(self, tmp_path, monkeypatch):
        """The README's "Python API" block runs as written, in an empty directory."""
        readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
        section = readme.split("## Python API", 1)[1]
        code = section.split("```python\n", 1)[1].split("```", 1)[0]
        monkeypatch.chdir(tmp_path)
        for name in PHASE4:
            monkeypatch.delenv(name, raising=False)
        exec(compile(code, "README.md", "exec"), {})  # noqa: S102 - the README's own example
        assert list((tmp_path / "runs").iterdir())
