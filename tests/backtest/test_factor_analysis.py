"""Factor analysis against a per-day pandas version, with properties of IC and look-ahead."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from stratloop.backtest.factor_analysis import (
    MIN_ASSETS,
    analyze_factor,
    daily_ic,
    daily_rank_ic,
    factor_turnover,
    forward_returns,
    quantile_returns,
    rank_autocorrelation,
    summarize_ic,
)
from stratloop.data import synthetic_panel
from stratloop.errors import BacktestError

PANEL = synthetic_panel(30, 260, seed=7)
CLOSE = PANEL.close
_LOG = np.log(CLOSE)
SIGNAL = np.round(_LOG - np.roll(_LOG, 10, axis=0), 2)  # rounded: ties exercise average ranks
SIGNAL[:10] = np.nan
SIGNAL[np.random.default_rng(0).random(SIGNAL.shape) < 0.05] = np.nan
HORIZON = 5
QUANTILES = 5


def oracle_forward(close: pd.DataFrame, h: int) -> pd.DataFrame:
    return close.shift(-h) / close - 1.0


def _varies(series: pd.Series) -> bool:
    return bool((series != series.iloc[0]).any())


def oracle_daily(signal: pd.DataFrame, forward: pd.DataFrame, method: str) -> pd.Series:
    """Per day, pandas' correlation over the assets where both are present (>= 3, not constant)."""
    out = []
    for day in signal.index:
        pair = pd.DataFrame({"s": signal.loc[day], "f": forward.loc[day]}).dropna()
        ok = len(pair) >= MIN_ASSETS and _varies(pair.s) and _varies(pair.f)
        out.append(pair.s.corr(pair.f, method=method) if ok else np.nan)
    return pd.Series(out, index=signal.index)


def oracle_quantiles(signal: pd.DataFrame, forward: pd.DataFrame, q: int) -> tuple[list, float]:
    daily = []
    for day in signal.index:
        pair = pd.DataFrame({"s": signal.loc[day], "f": forward.loc[day]}).dropna()
        if len(pair) < q:
            continue
        bucket = np.floor((pair.s.rank(method="average") - 1) * q / len(pair))
        daily.append(pair.f.groupby(bucket).mean().reindex(range(q)))
    table = pd.DataFrame(daily)
    return list(table.mean()), float((table[q - 1] - table[0]).mean())


def oracle_autocorrelation(signal: pd.DataFrame, lag: int) -> pd.Series:
    out = [np.nan] * lag
    for row in range(lag, len(signal)):
        pair = pd.DataFrame({"a": signal.iloc[row], "b": signal.iloc[row - lag]}).dropna()
        ok = len(pair) >= MIN_ASSETS and _varies(pair.a) and _varies(pair.b)
        out.append(pair.a.corr(pair.b, method="spearman") if ok else np.nan)
    return pd.Series(out)


def oracle_turnover(signal: pd.DataFrame, lag: int, q: int) -> pd.Series:
    def top(row: int) -> set | None:
        values = signal.iloc[row].dropna()
        if len(values) < q:
            return None
        bucket = np.floor((values.rank(method="average") - 1) * q / len(values))
        return set(values.index[bucket == q - 1])

    out = [np.nan] * lag
    for row in range(lag, len(signal)):
        now, before = top(row), top(row - lag)
        ok = now is not None and before is not None and len(now) > 0
        out.append(len(now - before) / len(now) if ok else np.nan)
    return pd.Series(out)


def _same(got: np.ndarray, expected: pd.Series | np.ndarray) -> None:
    expected = np.asarray(expected, dtype=float)
    assert np.array_equal(np.isnan(got), np.isnan(expected))
    finite = ~np.isnan(got)
    assert finite.sum() > 0
    assert np.abs(got[finite] - expected[finite]).max() < 1e-10


class TestAgainstPandasOracle:
    frame_signal = pd.DataFrame(SIGNAL)
    frame_close = pd.DataFrame(CLOSE)
    frame_forward = oracle_forward(frame_close, HORIZON)

    def test_panel_has_listing_gaps_and_ties(self):
        """The fixture exercises missing prices and tied signal values (the test is not vacuous)."""
        assert np.isnan(CLOSE).any()
        row = SIGNAL[100][np.isfinite(SIGNAL[100])]
        assert len(np.unique(row)) < len(row)

    def test_forward_returns(self):
        """Forward returns equal close.shift(-h) / close - 1."""
        got = forward_returns(CLOSE, HORIZON)
        expected = self.frame_forward.to_numpy()
        assert np.array_equal(np.isnan(got), np.isnan(expected))
        assert np.nanmax(np.abs(got - expected)) < 1e-15

    @pytest.mark.parametrize(
        ("func", "method"), [(daily_ic, "pearson"), (daily_rank_ic, "spearman")]
    )
    def test_daily_ic(self, func, method):
        """Daily IC and RankIC equal pandas' per-day correlations to 1e-10."""
        got = func(SIGNAL, forward_returns(CLOSE, HORIZON))
        _same(got, oracle_daily(self.frame_signal, self.frame_forward, method))

    def test_summary(self):
        """Mean, std, ICIR, t-stat and share positive equal pandas' over the measured days."""
        ic = daily_rank_ic(SIGNAL, forward_returns(CLOSE, HORIZON))
        series = pd.Series(ic).dropna()
        got = summarize_ic(ic)
        assert got.n_days == len(series)
        assert abs(got.mean - series.mean()) < 1e-12
        assert abs(got.std - series.std()) < 1e-12
        assert abs(got.icir - series.mean() / series.std()) < 1e-10
        assert abs(got.t_stat - series.mean() / series.std() * math.sqrt(len(series))) < 1e-10
        assert got.positive_share == (series > 0).mean()

    def test_quantile_returns(self):
        """Quantile means and the long-short spread equal a pandas groupby per day."""
        means, spread = quantile_returns(SIGNAL, forward_returns(CLOSE, HORIZON), QUANTILES)
        expected_means, expected_spread = oracle_quantiles(
            self.frame_signal, self.frame_forward, QUANTILES
        )
        assert np.abs(means - np.array(expected_means)).max() < 1e-10
        assert abs(np.nanmean(spread) - expected_spread) < 1e-10

    def test_rank_autocorrelation(self):
        """Rank autocorrelation equals pandas' Spearman of day t with day t - lag."""
        _same(rank_autocorrelation(SIGNAL, HORIZON), oracle_autocorrelation(self.frame_signal, 5))

    def test_turnover(self):
        """Top-quantile turnover equals a set difference of pandas' top quantiles."""
        got = factor_turnover(SIGNAL, HORIZON, QUANTILES)
        _same(got, oracle_turnover(self.frame_signal, HORIZON, QUANTILES))

    def test_decay_and_whole(self):
        """The analysis gathers the same figures; the decay's mean ICs equal pandas' per horizon."""
        result = analyze_factor(SIGNAL, CLOSE, horizon=HORIZON, decay_horizons=(1, 3, 5))
        for i, h in enumerate((1, 3, 5)):
            forward = oracle_forward(self.frame_close, h)
            assert (
                abs(result.ic_decay[i] - oracle_daily(self.frame_signal, forward, "pearson").mean())
                < 1e-10
            )
            assert (
                abs(
                    result.rank_ic_decay[i]
                    - oracle_daily(self.frame_signal, forward, "spearman").mean()
                )
                < 1e-10
            )
        assert result.rank_ic_decay[2] == pytest.approx(result.rank_ic_summary.mean, abs=1e-15)
        json.dumps(result.as_dict(), allow_nan=False)


class TestStep:
    def test_step_restricts_every_figure_to_those_rows(self):
        """With step=h each figure is the daily one restricted to rows 0, h, 2h, ..."""
        daily = analyze_factor(SIGNAL, CLOSE, horizon=HORIZON, decay_horizons=(1, 7))
        every = analyze_factor(SIGNAL, CLOSE, horizon=HORIZON, decay_horizons=(1, 7), step=HORIZON)
        rows = np.arange(0, len(CLOSE), HORIZON)
        assert np.array_equal(every.rows, rows)
        assert np.array_equal(every.ic, daily.ic[rows], equal_nan=True)
        assert np.array_equal(every.rank_ic, daily.rank_ic[rows], equal_nan=True)
        autocorrelation = rank_autocorrelation(SIGNAL, HORIZON)[rows]
        assert every.rank_autocorrelation == pytest.approx(np.nanmean(autocorrelation), abs=1e-15)
        turnover = factor_turnover(SIGNAL, HORIZON, QUANTILES)[rows]
        assert every.turnover == pytest.approx(np.nanmean(turnover), abs=1e-15)
        forward = forward_returns(CLOSE, 7)[rows]
        decay = np.nanmean(daily_rank_ic(SIGNAL[rows], forward))
        assert every.rank_ic_decay[1] == pytest.approx(decay, abs=1e-15)


class TestProperties:
    @settings(max_examples=40, deadline=None)
    @given(
        signal=arrays(np.float64, (12, 6), elements=st.floats(-5, 5) | st.just(np.nan)),
        forward=arrays(np.float64, (12, 6), elements=st.floats(-0.5, 0.5) | st.just(np.nan)),
    )
    def test_ic_in_unit_interval(self, signal, forward):
        """IC and RankIC lie in [-1, 1] on every measured day."""
        for ic in (daily_ic(signal, forward), daily_rank_ic(signal, forward)):
            finite = ic[np.isfinite(ic)]
            assert ((finite >= -1.0) & (finite <= 1.0)).all()

    @settings(max_examples=30, deadline=None)
    @given(seed=st.integers(0, 10_000), horizon=st.integers(1, 10))
    def test_signal_equal_to_future_return_has_rank_ic_one(self, seed, horizon):
        """A signal equal to the forward return has RankIC 1 on every day with >= 3 pairs."""
        panel = synthetic_panel(8, 60, seed=seed)
        forward = forward_returns(panel.close, horizon)
        ic = daily_rank_ic(forward.copy(), forward)
        counts = np.isfinite(forward).sum(axis=1)
        assert np.allclose(ic[counts >= 3], 1.0, atol=1e-12)
        assert np.isnan(ic[counts < 3]).all()

    def test_random_signal_has_mean_ic_near_zero(self):
        """On a random walk, a random signal's mean IC is within 4 standard errors of 0."""
        panel = synthetic_panel(100, 600, seed=5)
        signal = np.random.default_rng(6).standard_normal(panel.shape)
        summary = summarize_ic(daily_rank_ic(signal, forward_returns(panel.close, 1)))
        assert abs(summary.mean) < 4 * summary.std / math.sqrt(summary.n_days)

    def test_planted_signal_is_found(self):
        """A signal made of the forward return plus noise has a clearly positive IC and spread."""
        forward = forward_returns(CLOSE, HORIZON)
        noisy = forward + np.random.default_rng(8).normal(0.0, 0.05, forward.shape)
        result = analyze_factor(noisy, CLOSE, horizon=HORIZON, decay_horizons=(1, HORIZON))
        assert result.rank_ic_summary.mean > 0.3
        assert result.long_short > 0
        assert list(result.quantile_returns) == sorted(result.quantile_returns)

    @settings(max_examples=30, deadline=None)
    @given(seed=st.integers(0, 10_000), t=st.integers(0, 50), h=st.integers(1, 5))
    def test_no_look_ahead(self, seed, t, h):
        """IC, RankIC and quantile spread of day s <= t read only signal[<= t] and close[<= t + h].

        Equivalently: changing the data after day t never changes what is measured on
        day t - h or before.
        """
        panel = synthetic_panel(10, 60, seed=seed)
        rng = np.random.default_rng(seed)
        signal = rng.standard_normal(panel.shape)
        changed_signal, changed_close = signal.copy(), panel.close.copy()
        changed_signal[t + 1 :] = rng.standard_normal(changed_signal[t + 1 :].shape)
        changed_close[t + h + 1 :] *= rng.uniform(0.5, 2.0, changed_close[t + h + 1 :].shape)
        for func in (daily_ic, daily_rank_ic):
            before = func(signal, forward_returns(panel.close, h))[: t + 1]
            after = func(changed_signal, forward_returns(changed_close, h))[: t + 1]
            assert np.array_equal(before, after, equal_nan=True)
        _, spread = quantile_returns(signal, forward_returns(panel.close, h), 3)
        _, changed = quantile_returns(changed_signal, forward_returns(changed_close, h), 3)
        assert np.array_equal(spread[: t + 1], changed[: t + 1], equal_nan=True)


class TestChecks:
    def test_rejects_bad_inputs(self):
        """Mismatched shapes, horizons past the panel and fewer than 2 quantiles are errors."""
        with pytest.raises(BacktestError, match="same shape"):
            analyze_factor(SIGNAL[:-1], CLOSE, horizon=5)
        with pytest.raises(BacktestError, match="horizon or step 260"):
            analyze_factor(SIGNAL, CLOSE, horizon=260)
        with pytest.raises(BacktestError, match="n_quantiles"):
            analyze_factor(SIGNAL, CLOSE, horizon=5, n_quantiles=1)

    def test_no_measured_day(self):
        """An all-NaN signal gives zero summaries and strict JSON."""
        result = analyze_factor(np.full(CLOSE.shape, np.nan), CLOSE, horizon=5)
        assert result.ic_summary.n_days == 0
        assert result.ic_summary.mean == 0.0
        json.dumps(result.as_dict(), allow_nan=False)
