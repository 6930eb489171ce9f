"""Portfolio rules turn a row of signals into target weights."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from stratloop.backtest.portfolio import target_weights
from stratloop.errors import SpecError
from stratloop.spec import LongShort, Threshold, TopN

NAN = float("nan")


def _weights(rule, signal):
    signal = np.atleast_2d(np.asarray(signal, dtype=np.float64))
    return target_weights(rule, signal, np.isfinite(signal))


class TestTopN:
    def test_equal_weight_highest(self):
        """The n highest signals get 1/n each."""
        assert _weights(TopN(n=2), [3.0, 1.0, 5.0, 2.0]).tolist() == [[0.5, 0.0, 0.5, 0.0]]

    def test_ties_go_left(self):
        """Among equal signals the earlier column wins."""
        assert _weights(TopN(n=2), [1.0, 2.0, 2.0, 2.0]).tolist() == [[0.0, 0.5, 0.5, 0.0]]

    def test_fewer_eligible_than_n(self):
        """With fewer eligible assets than n, all of them share the book."""
        assert _weights(TopN(n=5), [NAN, 1.0, NAN, 2.0]).tolist() == [[0.0, 0.5, 0.0, 0.5]]

    def test_nothing_eligible(self):
        """No eligible asset: no position."""
        assert _weights(TopN(n=2), [NAN, NAN]).tolist() == [[0.0, 0.0]]


class TestLongShort:
    def test_quantiles(self):
        """floor(q * m) per side, +0.5 and -0.5 gross."""
        w = _weights(LongShort(quantile=0.29), np.arange(100.0))
        assert (w > 0).sum() == 29
        assert w.sum() == pytest.approx(0.0)
        assert np.abs(w).sum() == pytest.approx(1.0)
        assert (w[0, 71:] > 0).all()
        assert (w[0, :29] < 0).all()

    def test_too_few_assets(self):
        """With k = 0 there is no position."""
        assert not _weights(LongShort(quantile=0.2), [1.0, 2.0, 3.0]).any()


class TestThreshold:
    def test_long_only(self):
        """Above upper shares 1."""
        assert _weights(Threshold(upper=1.0), [0.5, 2.0, 3.0]).tolist() == [[0.0, 0.5, 0.5]]

    def test_long_short(self):
        """With lower, longs share +0.5 and shorts -0.5."""
        w = _weights(Threshold(upper=1.0, lower=0.0), [-1.0, 2.0, 3.0, -2.0])
        assert w.tolist() == [[-0.25, 0.25, 0.25, -0.25]]

    def test_lower_above_upper(self):
        """A lower bound above upper is a SpecError naming both."""
        with pytest.raises(SpecError, match=r"lower=2\.0 above upper=1\.0"):
            _weights(Threshold(upper=1.0, lower=2.0), [0.0])


class TestProperties:
    @settings(max_examples=80, deadline=None)
    @given(
        arrays(
            np.float64,
            st.tuples(st.integers(1, 6), st.integers(1, 12)),
            elements=st.one_of(st.just(NAN), st.integers(-3, 3).map(float)),
        ),
        st.integers(1, 12),
        st.floats(0.05, 0.5),
    )
    def test_rules_are_well_formed(self, signal, n, quantile):
        """Weights sit on eligible assets only, TopN sums to 1 or 0, LongShort is neutral."""
        eligible = np.isfinite(signal)
        top = target_weights(TopN(n=n), signal, eligible)
        assert not top[~eligible].any()
        sums = top.sum(axis=1)
        assert np.allclose(sums[eligible.any(axis=1)], 1.0)
        assert ((top > 0).sum(axis=1) == np.minimum(n, eligible.sum(axis=1))).all()
        ls = target_weights(LongShort(quantile=quantile), signal, eligible)
        assert not ls[~eligible].any()
        assert np.allclose(ls.sum(axis=1), 0.0)
