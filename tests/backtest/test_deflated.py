"""Deflated Sharpe ratio (Bailey & López de Prado 2014)."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pytest
from scipy import stats

from stratloop.backtest import deflated_sharpe
from stratloop.backtest.deflated import (
    excess_deflated_sharpe,
    excess_probabilistic_sharpe,
    expected_max_sharpe,
    probabilistic_sharpe,
    trial_sharpe_variance,
)


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


def oracle_deflated(returns: np.ndarray, n_trials: int, variance: float) -> float:
    """The paper's formula with scipy's moments and normal distribution."""
    sharpe = returns.mean() / returns.std(ddof=1)
    skew = stats.skew(returns)
    kurt = stats.kurtosis(returns, fisher=False)
    gamma = np.euler_gamma
    sr0 = math.sqrt(variance) * (
        (1 - gamma) * stats.norm.ppf(1 - 1 / n_trials)
        + gamma * stats.norm.ppf(1 - 1 / (n_trials * math.e))
    )
    if n_trials == 1:
        sr0 = 0.0
    z = (sharpe - sr0) * math.sqrt(len(returns) - 1)
    return float(stats.norm.cdf(z / math.sqrt(1 - skew * sharpe + (kurt - 1) / 4 * sharpe**2)))


class TestOnExcessReturns:
    rng = np.random.default_rng(9)
    bench = rng.normal(0.0004, 0.01, 750)
    strategy = bench + rng.standard_t(5, 750) * 0.002 + 0.0002
    trial_sharpes = rng.normal(0.0, 0.08, 40)

    def test_trial_variance_is_observed_and_floored(self):
        """V is the trials' sample variance, at least 1/(T - 1); the floor alone under 2 trials."""
        assert trial_sharpe_variance(self.trial_sharpes, 750) == pytest.approx(
            float(np.var(self.trial_sharpes, ddof=1)), rel=1e-12
        )
        assert trial_sharpe_variance(np.full(40, 0.05), 750) == 1 / 749
        assert trial_sharpe_variance(np.array([0.3]), 750) == 1 / 749

    def test_deflated_matches_scipy(self):
        """DSR on excess returns equals the scipy formula, N = trials, V = observed (floored)."""
        excess = self.strategy - self.bench
        variance = max(float(np.var(self.trial_sharpes, ddof=1)), 1 / 749)
        expected = oracle_deflated(excess, 40, variance)
        got = excess_deflated_sharpe(self.strategy, self.bench, self.trial_sharpes)
        assert abs(got - expected) < 1e-10
        assert 0.0 < got < 1.0

    def test_psr_matches_scipy(self):
        """PSR of the excess returns against 0 is the one-trial DSR."""
        excess = self.strategy - self.bench
        got = excess_probabilistic_sharpe(self.strategy, self.bench)
        assert abs(got - oracle_deflated(excess, 1, 1.0)) < 1e-10

    def test_beating_cash_is_not_beating_the_benchmark(self):
        """The benchmark itself beats cash convincingly but has no excess over itself."""
        assert deflated_sharpe(self.bench, 1) > 0.5
        assert excess_probabilistic_sharpe(self.bench, self.bench) == 0.0
        assert excess_deflated_sharpe(self.bench, self.bench, self.trial_sharpes) == 0.0
