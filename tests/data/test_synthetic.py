"""Seeded synthetic panels."""

from __future__ import annotations

import numpy as np
import pytest

from stratloop.data import planted_panel, synthetic_panel
from stratloop.errors import DataError


class TestSyntheticPanel:
    def test_reproducible(self):
        """The same seed gives the same panel bit for bit, another seed a different one."""
        a = synthetic_panel(30, 200, seed=7)
        b = synthetic_panel(30, 200, seed=7)
        c = synthetic_panel(30, 200, seed=8)
        assert np.array_equal(a.close, b.close, equal_nan=True)
        assert not np.array_equal(a.close, c.close, equal_nan=True)

    def test_listing_gaps_are_nan_runs(self):
        """Listings and delistings are leading and trailing NaN runs; every asset trades."""
        close = synthetic_panel(200, 300, seed=1).close
        present = np.isfinite(close)
        assert (~present).any()
        assert present.any(axis=0).all()
        first = present.argmax(axis=0)
        last = len(close) - present[::-1].argmax(axis=0)
        for j in range(close.shape[1]):
            assert present[first[j] : last[j], j].all()
        assert (present.sum(axis=0) >= 150).all()

    def test_no_gaps(self):
        """listing_gaps=False gives a full panel of positive prices on business days."""
        panel = synthetic_panel(5, 50, seed=1, listing_gaps=False)
        assert (panel.close > 0).all()
        assert np.is_busday(panel.dates).all()

    def test_bad_size(self):
        """Fewer than one asset or two dates is an error."""
        with pytest.raises(DataError, match="n_dates >= 2"):
            synthetic_panel(5, 1, seed=0)


def _spearman_rows(x, y):
    """Mean over rows of the Spearman correlation across columns (no NaNs in these panels)."""
    rx = np.argsort(np.argsort(x, axis=1), axis=1).astype(float)
    ry = np.argsort(np.argsort(y, axis=1), axis=1).astype(float)
    rx -= rx.mean(axis=1, keepdims=True)
    ry -= ry.mean(axis=1, keepdims=True)
    corr = (rx * ry).sum(axis=1) / np.sqrt((rx**2).sum(axis=1) * (ry**2).sum(axis=1))
    return corr.mean(), corr.std() / np.sqrt(len(corr))


class TestPlantedPanel:
    def test_the_planted_reversal_has_the_requested_daily_ic(self):
        panel = planted_panel(20, 4000, seed=3, strength=0.1)
        log_close = np.log(panel.close)
        past = log_close[5:-1] - log_close[:-6]
        following = np.diff(log_close, axis=0)[5:]
        ic, se = _spearman_rows(-past, following)
        assert 0.07 < ic < 0.12, (ic, se)

    def test_price_levels_carry_no_signal(self):
        panel = planted_panel(20, 4000, seed=3, strength=0.1)
        following = np.diff(np.log(panel.close), axis=0)
        ic, se = _spearman_rows(-panel.close[:-1], following)
        assert abs(ic) < 4 * se, (ic, se)

    def test_strength_zero_is_a_random_walk(self):
        panel = planted_panel(20, 4000, seed=3, strength=0.0)
        log_close = np.log(panel.close)
        ic, se = _spearman_rows(-(log_close[5:-1] - log_close[:-6]), np.diff(log_close, axis=0)[5:])
        assert abs(ic) < 4 * se, (ic, se)

    def test_the_same_seed_gives_the_same_panel(self):
        a, b = planted_panel(5, 50, seed=9), planted_panel(5, 50, seed=9)
        np.testing.assert_array_equal(a.close, b.close)

    @pytest.mark.parametrize(
        ("kwargs", "bad"),
        [
            ({"strength": 1.0}, "strength"),
            ({"lookback": 0}, "lookback"),
            ({"n_assets": 1}, "n_assets"),
        ],
    )
    def test_impossible_parameters_are_refused(self, kwargs, bad):
        args = {"n_assets": 5, "n_dates": 50, "seed": 1, **kwargs}
        with pytest.raises(DataError, match=bad):
            planted_panel(**args)


def test_a_driftless_synthetic_panel_has_no_market_drift():
    panel = synthetic_panel(50, 8000, seed=2, listing_gaps=False, market_drift=0.0)
    daily = np.diff(np.log(panel.close), axis=0).mean(axis=1)
    assert abs(daily.mean()) < 4 * daily.std() / np.sqrt(len(daily))
