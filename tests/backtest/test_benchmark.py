"""The equal-weight benchmark and excess metrics against separate pandas/scipy versions."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from stratloop.backtest.benchmark import ExcessMetrics, equal_weight_benchmark, excess_metrics
from stratloop.backtest.engine import run_backtest
from stratloop.data import synthetic_panel
from stratloop.errors import BacktestError
from stratloop.spec import TopN

PANEL = synthetic_panel(25, 320, seed=11)


def oracle_equal_weight(close: pd.DataFrame, period: int, cost_bps: float, start: int) -> pd.Series:
    """Day by day: on rebalance days 1/m in each priced asset; drift; a lost price goes to cash."""
    cost = cost_bps / 10_000.0
    weights = pd.Series(0.0, index=close.columns)
    out = []
    for row in range(start, len(close)):
        prices = close.iloc[row]
        gross = 0.0
        if row > start:
            moves = (prices / close.iloc[row - 1] - 1.0).fillna(0.0)
            gross = float((weights * moves).sum())
            weights = weights * (1.0 + moves) / (1.0 + gross)
        before = weights.copy()
        weights[prices.isna()] = 0.0
        if (row - start) % period == 0:
            priced = prices.notna()
            weights = priced.astype(float) / priced.sum()
            traded = float((weights - before).abs().sum())
        else:
            traded = float((weights - before).abs().sum())
            weights = weights / (1.0 - cost * traded)
        out.append((1.0 + gross) * (1.0 - cost * traded) - 1.0)
    return pd.Series(out, index=close.index[start:])


class TestEqualWeightBenchmark:
    @pytest.mark.parametrize(("period", "start"), [(1, 0), (5, 0), (21, 17)])
    def test_matches_pandas_oracle(self, period, start):
        """Daily returns equal the day-by-day pandas version to 1e-10, with listing gaps."""
        assert np.isnan(PANEL.close).any()
        result = equal_weight_benchmark(PANEL, period, cost_bps=10.0, start=start)
        expected = oracle_equal_weight(pd.DataFrame(PANEL.close), period, 10.0, start)
        assert np.abs(result.returns - expected.to_numpy()).max() < 1e-10

    def test_same_rebalance_dates_as_the_strategy(self):
        """Benchmark and strategy of one segment trade on the same rows."""
        rule = TopN(n=3, rebalance_days=7)
        signal = np.random.default_rng(1).standard_normal(PANEL.shape)
        strategy = run_backtest(signal, PANEL, rule, cost_bps=10.0, start=9, stop=300)
        bench = equal_weight_benchmark(PANEL, 7, cost_bps=10.0, start=9, stop=300)
        assert np.array_equal(strategy.dates, bench.dates)
        rebalance = np.arange(len(bench.returns)) % 7 == 0
        assert (bench.turnover[rebalance] > 0).all()

    def test_daily_zero_cost_is_mean_asset_return(self):
        """Rebalanced daily at no cost, day t returns the mean return of the assets priced at t-1.

        An asset that lost its price at t counts 0 (it was closed at its last price).
        """
        result = equal_weight_benchmark(PANEL, 1, cost_bps=0.0)
        close = pd.DataFrame(PANEL.close)
        moves = (close / close.shift(1) - 1.0).where(close.shift(1).notna())
        expected = moves.fillna(0.0).where(close.shift(1).notna()).mean(axis=1)
        assert result.returns[0] == 0.0
        assert np.abs(result.returns[1:] - expected.to_numpy()[1:]).max() < 1e-12

    @settings(max_examples=25, deadline=None)
    @given(seed=st.integers(0, 10_000), n_assets=st.integers(1, 8), n_dates=st.integers(3, 60))
    def test_daily_zero_cost_property(self, seed, n_assets, n_dates):
        """Without listing gaps, daily rebalancing at no cost is the plain mean of asset returns."""
        panel = synthetic_panel(n_assets, n_dates, seed=seed, listing_gaps=False)
        result = equal_weight_benchmark(panel, 1, cost_bps=0.0)
        moves = panel.close[1:] / panel.close[:-1] - 1.0
        assert np.abs(result.returns[1:] - moves.mean(axis=1)).max() < 1e-12


def oracle_excess(s: np.ndarray, b: np.ndarray, annualization: int = 252) -> dict[str, float]:
    """pandas/scipy figures, written without the module's formulas."""
    strategy, bench = pd.Series(s), pd.Series(b)
    diff = strategy - bench
    test = stats.ttest_1samp(diff, 0.0, alternative="greater")
    return {
        "excess_return": diff.mean() * annualization,
        "tracking_error": diff.std() * math.sqrt(annualization),
        "information_ratio": diff.mean() / diff.std() * math.sqrt(annualization),
        "beta": stats.linregress(b, s).slope,
        "correlation": strategy.corr(bench),
        "t_stat": float(test.statistic),
        "p_value": float(test.pvalue),
        "n_days": len(s),
    }


class TestExcessMetrics:
    def test_matches_scipy_oracle(self):
        """Every figure equals the pandas/scipy version to 1e-10 on a strategy and its benchmark."""
        signal = np.random.default_rng(2).standard_normal(PANEL.shape)
        strategy = run_backtest(signal, PANEL, TopN(n=5, rebalance_days=5), cost_bps=10.0)
        bench = equal_weight_benchmark(PANEL, 5, cost_bps=10.0)
        got = excess_metrics(strategy.returns, bench.returns).as_dict()
        expected = oracle_excess(strategy.returns, bench.returns)
        assert got.keys() == expected.keys()
        for key, value in expected.items():
            assert abs(got[key] - value) < 1e-10, key

    def test_planted_excess_is_significant(self):
        """A strategy that adds 10 bps a day to the benchmark, with noise, is far beyond chance."""
        rng = np.random.default_rng(3)
        bench = rng.normal(0.0003, 0.01, 1000)
        strategy = bench + 0.001 + rng.normal(0.0, 0.002, 1000)
        got = excess_metrics(strategy, bench)
        assert got.t_stat > 10
        assert got.p_value < 1e-10
        assert got.beta == pytest.approx(1.0, abs=0.05)

    def test_degenerate_cases(self):
        """No tracking error, a flat benchmark or one day: ratios 0.0, p-value 1.0, strict JSON."""
        bench = np.random.default_rng(4).normal(0.0, 0.01, 50)
        same = excess_metrics(bench, bench)
        assert (same.information_ratio, same.t_stat, same.p_value) == (0.0, 0.0, 1.0)
        assert same.beta == pytest.approx(1.0)
        assert same.correlation == pytest.approx(1.0)
        flat = excess_metrics(bench, np.zeros(50))
        assert (flat.beta, flat.correlation) == (0.0, 0.0)
        one = excess_metrics(np.array([0.01]), np.array([0.0]))
        assert one == ExcessMetrics(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1)
        for metrics in (same, flat, one):
            json.dumps(metrics.as_dict(), allow_nan=False)

    def test_lengths_must_match(self):
        """Series of different lengths are an error naming both shapes."""
        with pytest.raises(BacktestError, match=r"\(3,\) and \(4,\)"):
            excess_metrics(np.zeros(3), np.zeros(4))
