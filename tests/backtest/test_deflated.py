"""Deflated Sharpe ratio (Bailey & López de Prado 2014)."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pytest

from stratloop.backtest import deflated_sharpe
from stratloop.backtest.deflated import expected_max_sharpe, probabilistic_sharpe


class TestExpectedMaxSharpe:
    def test_one_trial_is_zero(self):
        """With one trial there is no selection to correct for."""
        assert expected_max_sharpe(1, 0.01) == 0.0

    def test_paper_value(self):
        """N = 1000 trials, unit variance: about 3.26 (the paper's worked magnitude)."""
        assert expected_max_sharpe(1000, 1.0) == pytest.approx(3.2552, abs=1e-3)

    def test_grows_with_trials(self):
        """More trials raise the bar."""
        values = [expected_max_sharpe(n, 0.5) for n in (2, 10, 100, 10_000)]
        assert values == sorted(values)

    def test_monte_carlo(self):
        """Matches the simulated mean maximum of N standard normals."""
        rng = np.random.default_rng(0)
        simulated = rng.standard_normal((4000, 50)).max(axis=1).mean()
        assert expected_max_sharpe(50, 1.0) == pytest.approx(simulated, abs=0.03)


class TestProbabilisticSharpe:
    def test_normal_returns(self):
        """With normal moments it is Phi((SR - SR*) sqrt(n - 1) / sqrt(1 + SR^2 / 2))."""
        expected = NormalDist().cdf(0.05 * math.sqrt(999) / math.sqrt(1 + 0.05**2 / 2))
        assert probabilistic_sharpe(0.05, 0.0, 1000, 0.0, 3.0) == pytest.approx(expected)

    def test_negative_skew_lowers_confidence(self):
        """Negative skewness and fat tails make a positive Sharpe less credible."""
        base = probabilistic_sharpe(0.1, 0.0, 500, 0.0, 3.0)
        assert probabilistic_sharpe(0.1, 0.0, 500, -2.0, 10.0) < base


class TestDeflatedSharpe:
    def test_more_trials_deflate(self):
        """The same returns are less convincing after more trials."""
        r = np.random.default_rng(3).normal(0.001, 0.01, 1000)
        values = [deflated_sharpe(r, n) for n in (1, 10, 100, 1000)]
        assert values == sorted(values, reverse=True)
        assert values[0] > 0.9

    def test_noise_after_many_trials_is_not_skill(self):
        """The best of many noise series has a deflated Sharpe far below its PSR."""
        rng = np.random.default_rng(5)
        trials = rng.normal(0.0, 0.01, (200, 500))
        sharpes = trials.mean(axis=1) / trials.std(axis=1, ddof=1)
        best = trials[np.argmax(sharpes)]
        assert deflated_sharpe(best, 1) > 0.95
        assert deflated_sharpe(best, 200, trial_sharpe_variance=float(sharpes.var())) < 0.7

    def test_degenerate(self):
        """Too few returns or zero volatility give 0.0."""
        assert deflated_sharpe(np.array([0.01, 0.02]), 5) == 0.0
        assert deflated_sharpe(np.zeros(100), 5) == 0.0
