"""The tear sheet's arithmetic against a separately written pandas computation, to 1e-10."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from stratloop.report.analytics import (
    drawdown,
    equity_curve,
    monthly_returns,
    rolling_beta,
    rolling_mean,
    rolling_sharpe,
    yearly_returns,
)
from stratloop.service.runs import RunReader

TOL = 1e-10

daily = arrays(
    np.float64,
    st.integers(2, 400),
    elements=st.floats(-0.2, 0.2, allow_nan=False, allow_infinity=False),
)
basis_points = arrays(
    np.float64, st.integers(2, 200), elements=st.integers(-2000, 2000).map(lambda x: x / 1e4)
)
"""Returns in whole basis points: pandas' online rolling variance loses digits on windows
that are flat to within 1e-7, where the direct computation is the exact one."""


def _dates(n: int) -> np.ndarray:
    return pd.bdate_range("2019-11-25", periods=n).to_numpy().astype("datetime64[D]")


def _pandas_equity(returns: np.ndarray) -> pd.Series:
    return (1 + pd.Series(returns)).cumprod()


def _pandas_drawdown(returns: np.ndarray) -> pd.Series:
    equity = _pandas_equity(returns)
    return equity / equity.cummax() - 1


def _pandas_period(dates: np.ndarray, returns: np.ndarray, freq: str) -> pd.Series:
    growth = pd.Series(1 + returns, index=pd.DatetimeIndex(dates))
    return growth.groupby(growth.index.to_period(freq)).prod() - 1


def _check(dates: np.ndarray, returns: np.ndarray) -> None:
    np.testing.assert_allclose(equity_curve(returns), _pandas_equity(returns), rtol=0, atol=TOL)
    np.testing.assert_allclose(drawdown(returns), _pandas_drawdown(returns), rtol=0, atol=TOL)
    months = _pandas_period(dates, returns, "M")
    ours = monthly_returns(dates, returns)
    assert list(ours) == [(p.year, p.month) for p in months.index]
    np.testing.assert_allclose(list(ours.values()), months.to_numpy(), rtol=0, atol=TOL)
    years = _pandas_period(dates, returns, "Y")
    ours_y = yearly_returns(dates, returns)
    assert list(ours_y) == [p.year for p in years.index]
    np.testing.assert_allclose(list(ours_y.values()), years.to_numpy(), rtol=0, atol=TOL)


class TestAgainstPandas:
    @settings(max_examples=40, deadline=None)
    @given(daily)
    def test_equity_drawdown_and_calendar_returns(self, returns: np.ndarray) -> None:
        """Equity, drawdown, monthly and yearly returns equal pandas' on any returns."""
        _check(_dates(len(returns)), returns)

    def test_on_a_real_champion(self, finished_run: tuple[Path, str]) -> None:
        """The same holds on the returns and dates the tear sheet of a real run charts."""
        runs_dir, run_id = finished_run
        series = RunReader(runs_dir).tearsheet(run_id).series
        _check(series.dates.astype("datetime64[D]"), series.returns)
        _check(series.dates.astype("datetime64[D]"), series.benchmark)

    @settings(max_examples=40, deadline=None)
    @given(basis_points, st.integers(2, 40))
    def test_rolling_sharpe_and_beta(self, returns: np.ndarray, window: int) -> None:
        """Rolling Sharpe and beta equal pandas' rolling mean/std and cov/var where defined."""
        bench = np.roll(returns, 1) * 0.5 + 0.001 * np.arange(len(returns)) % 0.003
        s, b = pd.Series(returns), pd.Series(bench)
        sharpe = s.rolling(window).mean() / s.rolling(window).std() * np.sqrt(252)
        beta = s.rolling(window).cov(b) / b.rolling(window).var()
        ours_sharpe = rolling_sharpe(returns, window)
        ours_beta = rolling_beta(returns, bench, window)
        defined = np.isfinite(ours_sharpe)
        assert not np.isfinite(ours_sharpe[: window - 1]).any()
        np.testing.assert_allclose(ours_sharpe[defined], sharpe[defined], rtol=1e-7, atol=1e-9)
        defined = np.isfinite(ours_beta)
        np.testing.assert_allclose(ours_beta[defined], beta[defined], rtol=1e-7, atol=1e-9)

    def test_rolling_mean_skips_gaps(self) -> None:
        """The IC's rolling mean averages the last w measured days, ignoring the gaps."""
        values = np.array([1.0, np.nan, 2.0, 3.0, np.nan, 4.0])
        got = rolling_mean(values, 2)
        expected = pd.Series(values).dropna().rolling(2).mean().reindex(range(6))
        np.testing.assert_allclose(got, expected.to_numpy(), equal_nan=True)

    @pytest.mark.parametrize("n", [0, 1])
    def test_rolling_on_short_series_is_all_nan(self, n: int) -> None:
        """A series shorter than the window has no rolling figure."""
        assert np.isnan(rolling_sharpe(np.zeros(n), 5)).all()
        assert np.isnan(rolling_beta(np.zeros(n), np.zeros(n), 5)).all()
