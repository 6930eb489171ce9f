"""The typed API examples also run and give sensible results."""

from __future__ import annotations

import math

import api_examples as examples

from stratloop.config import default_config


class TestApiExamples:
    def test_backtest_example_reports_finite_train_and_test_metrics(self):
        """The embedded-data example yields finite Sharpe ratios for both periods."""
        train, test = examples.one_backtest()
        assert math.isfinite(train.sharpe)
        assert math.isfinite(test.sharpe)
        assert train.n_days > test.n_days > 0

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
