"""Seeded synthetic panels."""

from __future__ import annotations

import numpy as np
import pytest

from stratloop.data import synthetic_panel
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
