"""A second implementation, written apart from the product, of the benchmark, excess and IC figures.

Plain pandas, one day at a time where the definition is per day, and in other
terms than the product's where that is possible: the benchmark tracks money
held per asset and in cash instead of weights, the excess figures are
pandas/scipy one-liners, IC and RankIC are pandas' own correlations and the
quantiles pandas' ranks. On the embedded data and on random panels with
scattered gaps every figure agrees with ``stratloop.backtest.benchmark`` and
``stratloop.backtest.factor_analysis`` to 1e-10.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from scipy import stats

from stratloop.backtest.benchmark import equal_weight_benchmark, excess_metrics
from stratloop.backtest.factor_analysis import (
    daily_ic,
    daily_rank_ic,
    forward_returns,
    quantile_returns,
    summarize_ic,
)
from stratloop.data import load_dataset
from stratloop.data.panel import Panel

TOLERANCE = 1e-10
MIN_PAIRS = 3


def money_equal_weight(
    close: pd.DataFrame, period: int, cost_bps: float, start: int, stop: int
) -> pd.Series:
    """Equal weight tracked in money: value per asset, cash, and equity, day by day.

    On a rebalance day (every ``period`` rows from ``start``) the equity after
    costs is split equally over the assets with a price; costs are ``cost_bps``
    of the value traded, as a share of the equity before trading. An asset that
    loses its price is sold at its last price into cash (a trade, with its cost).
    A rebalance day on which no asset has a price holds only cash: what was
    held is sold (a trade), and the next rebalance with prices buys back in
    (another); nothing is bought or sold for free.
    """
    rate = cost_bps / 10_000.0
    held = pd.Series(0.0, index=close.columns)
    equity = 1.0
    returns = []
    for row in range(start, stop):
        price = close.iloc[row]
        opening = equity
        if row > start:
            move = (price / close.iloc[row - 1] - 1.0).fillna(0.0)
            cash = equity - held.sum()
            held = held * (1.0 + move)
            equity = cash + held.sum()
        pre_trade = equity
        if (row - start) % period == 0:
            priced = price.notna().astype(float)
            target_share = priced / priced.sum() if priced.any() else priced
            traded = (target_share - held / pre_trade).abs().sum()
            equity = pre_trade * (1.0 - rate * traded)
            held = target_share * equity
        else:
            lost = held.where(price.isna(), 0.0)
            equity = pre_trade - rate * lost.abs().sum()
            held = held - lost
        returns.append(equity / opening - 1.0)
    return pd.Series(returns, index=close.index[start:stop])


def pandas_excess(s: pd.Series, b: pd.Series, annualization: int = 252) -> dict[str, float]:
    """Excess return, tracking error, IR, beta, correlation, t-stat and one-sided p-value."""
    d = s - b
    n = len(d)
    t = d.mean() / (d.std() / math.sqrt(n))
    return {
        "excess_return": d.mean() * annualization,
        "tracking_error": d.std() * math.sqrt(annualization),
        "information_ratio": d.mean() / d.std() * math.sqrt(annualization),
        "beta": s.cov(b) / b.var(),
        "correlation": s.corr(b),
        "t_stat": t,
        "p_value": stats.t.sf(t, n - 1),
        "n_days": n,
    }


def pandas_forward(close: pd.DataFrame, horizon: int) -> pd.DataFrame:
    return close.shift(-horizon) / close - 1.0


def pandas_daily_correlation(
    signal: pd.DataFrame, forward: pd.DataFrame, method: str
) -> pd.Series:
    """Per day, pandas' correlation of signal and forward return over the assets with both."""
    out = []
    for day in signal.index:
        pairs = pd.concat([signal.loc[day], forward.loc[day]], axis=1).dropna()
        x, y = pairs.iloc[:, 0], pairs.iloc[:, 1]
        measured = len(pairs) >= MIN_PAIRS and (x != x.iloc[0]).any() and (y != y.iloc[0]).any()
        out.append(x.corr(y, method=method) if measured else np.nan)
    return pd.Series(out, index=signal.index)


def pandas_quantiles(
    signal: pd.DataFrame, forward: pd.DataFrame, n_quantiles: int
) -> tuple[np.ndarray, float]:
    """Mean forward return per signal quantile (average ranks), and the mean top-bottom spread."""
    per_day = []
    for day in signal.index:
        pairs = pd.concat([signal.loc[day], forward.loc[day]], axis=1).dropna()
        m = len(pairs)
        if m < n_quantiles:
            continue
        bucket = np.floor((pairs.iloc[:, 0].rank(method="average") - 1) * n_quantiles / m)
        per_day.append(pairs.iloc[:, 1].groupby(bucket).mean().reindex(range(n_quantiles)))
    table = pd.DataFrame(per_day, columns=range(n_quantiles))  # no day full enough: empty
    means = table.mean().fillna(0.0).to_numpy()
    spread = (table[n_quantiles - 1] - table[0]).mean()
    return means, float(spread)


def _close(a: np.ndarray, b: np.ndarray | pd.Series) -> None:
    expected = np.asarray(b, dtype=float)
    assert np.array_equal(np.isnan(a), np.isnan(expected))
    finite = ~np.isnan(expected)
    if finite.any():
        assert np.abs(a[finite] - expected[finite]).max() < TOLERANCE


def _compare(panel: Panel, signal: np.ndarray, *, period: int, horizon: int, quantiles: int,
             start: int) -> None:
    close = pd.DataFrame(panel.close)
    stop = len(close)
    bench = equal_weight_benchmark(panel, period, cost_bps=10.0, start=start, stop=stop)
    ours = money_equal_weight(close, period, 10.0, start, stop)
    _close(bench.returns, ours)

    rng = np.random.default_rng(len(close))
    strategy_returns = ours.to_numpy() + rng.normal(0.0002, 0.005, len(ours))
    got = excess_metrics(strategy_returns, bench.returns).as_dict()
    expected = pandas_excess(pd.Series(strategy_returns), ours.reset_index(drop=True))
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        assert abs(got[key] - value) < TOLERANCE, key

    frame = pd.DataFrame(signal)
    forward = pandas_forward(close, horizon)
    _close(forward_returns(panel.close, horizon), forward)
    ic = pandas_daily_correlation(frame, forward, "pearson")
    rank_ic = pandas_daily_correlation(frame, forward, "spearman")
    _close(daily_ic(signal, forward.to_numpy()), ic)
    _close(daily_rank_ic(signal, forward.to_numpy()), rank_ic)
    summary = summarize_ic(daily_ic(signal, forward.to_numpy()))
    measured = ic.dropna()
    if len(measured) > 1:
        assert abs(summary.mean - measured.mean()) < TOLERANCE
        assert abs(summary.std - measured.std()) < TOLERANCE
        assert abs(summary.t_stat - measured.mean() / measured.std() * math.sqrt(len(measured))) < (
            TOLERANCE * max(1.0, abs(summary.t_stat))
        )
    means, spread = quantile_returns(signal, forward.to_numpy(), quantiles)
    expected_means, expected_spread = pandas_quantiles(frame, forward, quantiles)
    assert np.abs(means - expected_means).max() < TOLERANCE
    if not math.isnan(expected_spread):
        assert abs(np.nanmean(spread) - expected_spread) < TOLERANCE


def _random_panel(seed: int, rows: int, cols: int, gaps: float) -> tuple[Panel, np.ndarray]:
    """A random-walk panel with scattered missing prices, and a signal with its own gaps."""
    rng = np.random.default_rng(seed)
    close = 50.0 * np.exp(np.cumsum(rng.normal(0.0, 0.02, (rows, cols)), axis=0))
    close[rng.random((rows, cols)) < gaps] = np.nan
    signal = rng.normal(size=(rows, cols))
    signal[rng.random((rows, cols)) < gaps] = np.nan
    signal[rng.random((rows, cols)) < 0.1] = 0.5  # ties
    dates = np.datetime64("2001-01-01") + np.arange(rows)
    return Panel(dates, tuple(f"S{i}" for i in range(cols)), {"close": close}), signal


class TestEmbeddedData:
    """The embedded dataset: twenty stocks, its last 600 days."""

    @pytest.mark.parametrize(("period", "start"), [(21, 0), (5, 234)])
    def test_benchmark_excess_and_ic_agree(self, period, start):
        """A momentum signal on the embedded data: every figure within 1e-10 of pandas'."""
        panel = load_dataset()
        tail = Panel(panel.dates[-600:], panel.assets, {"close": panel.close[-600:]})
        close = pd.DataFrame(tail.close)
        signal = (close / close.shift(60) - 1.0).to_numpy()
        _compare(tail, signal, period=period, horizon=period, quantiles=5, start=start % 600)


class TestGappedPanel:
    """Equal weight when stocks list, delist and a whole day has no price."""

    def test_every_change_of_the_priced_set_is_a_trade(self):
        """Listing, a day without prices and the return from it each cost their turnover.

        Daily rebalance at 10 bps: day 0 buys A (turnover 1); day 1 B lists and
        A rose 10%, half of A is sold for B (turnover 1); day 2 has no price,
        everything is sold into cash (turnover 1); day 3 buys back in (turnover 1).
        """
        nan = np.nan
        close = np.array([[10.0, nan], [11.0, 20.0], [nan, nan], [11.0, 22.0]])
        dates = np.datetime64("2001-01-01") + np.arange(4)
        panel = Panel(dates, ("A", "B"), {"close": close})
        expected = [-0.001, 1.1 * 0.999 - 1.0, -0.001, -0.001]
        got = equal_weight_benchmark(panel, 1, cost_bps=10.0).returns
        ours = money_equal_weight(pd.DataFrame(close), 1, 10.0, 0, 4)
        assert np.abs(got - expected).max() < TOLERANCE
        assert np.abs(ours.to_numpy() - expected).max() < TOLERANCE


class TestRandomPanels:
    """Random panels with scattered gaps in prices and signal, and ties."""

    @settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    # found by HYPOTHESIS_PROFILE=explore: row 12 has no price at all (the pandas
    # version sold and bought back for free), and no day with 4 pairs (empty table)
    @example(seed=18, rows=30, cols=3, gaps=0.2, period=1, start=0)
    @example(seed=16, rows=31, cols=4, gaps=0.2, period=3, start=0)
    @given(
        seed=st.integers(0, 2**32 - 1),
        rows=st.integers(30, 90),
        cols=st.integers(3, 12),
        gaps=st.sampled_from([0.0, 0.05, 0.2]),
        period=st.sampled_from([1, 3, 7]),
        start=st.integers(0, 10),
    )
    def test_every_figure_agrees(self, seed, rows, cols, gaps, period, start):
        """Benchmark, excess, IC, RankIC and quantile returns within 1e-10 of pandas'."""
        panel, signal = _random_panel(seed, rows, cols, gaps)
        quantiles = min(cols, 4) if cols >= 2 else 2
        _compare(panel, signal, period=period, horizon=period, quantiles=quantiles, start=start)
