"""daily_factor: the loop's one-ranking factor figures equal the separate definitions."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from stratloop.backtest.factor_analysis import (
    daily_factor,
    daily_ic,
    daily_rank_ic,
    factor_turnover,
    quantile_returns,
    rank_autocorrelation,
)


class TestDailyFactor:
    @settings(max_examples=60, deadline=None)
    @given(
        st.integers(0, 2**32 - 1),
        st.integers(2, 30),
        st.integers(3, 15),
        st.floats(0.0, 0.4),
        st.booleans(),
    )
    def test_equals_the_separate_figures(self, seed, rows, assets, missing, ties):
        """IC, RankIC, spread, turnover and autocorrelation match the one-figure functions."""
        rng = np.random.default_rng(seed)
        signal = rng.normal(size=(rows, assets))
        forward = rng.normal(size=(rows, assets))
        if ties:
            signal = np.round(signal)
        signal[rng.random(signal.shape) < missing] = np.nan
        forward[rng.random(forward.shape) < missing] = np.nan
        got = daily_factor(signal, forward, 5)
        expected = (
            daily_ic(signal, forward),
            daily_rank_ic(signal, forward),
            quantile_returns(signal, forward, 5)[1],
            factor_turnover(signal, 1, 5),
            rank_autocorrelation(signal, 1),
        )
        actual = (got.ic, got.rank_ic, got.spread, got.turnover, got.autocorrelation)
        for a, b in zip(actual, expected, strict=True):
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-12, equal_nan=True)
