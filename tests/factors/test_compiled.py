"""The compiled (numba) kernels against the numpy kernels and pandas."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from stratloop.factors import _timeseries as timeseries
from stratloop.factors._crosssection import _rank_block, _rank_compiled
from stratloop.factors._timeseries import (
    _moments_compiled,
    _ts_rank_compiled,
    decay_linear,
    pct_change,
    ts_mean,
    ts_rank,
)
from stratloop.factors._timeseries import ts_std as numpy_ts_std

ELEMENTS = st.sampled_from([np.nan, -np.inf, -1.5, -0.0, 0.0, 1e-300, 0.25, 2.0, 7.0, np.inf])

wide = hnp.arrays(np.float64, st.tuples(st.integers(1, 12), st.integers(33, 70)), elements=ELEMENTS)
finite = hnp.arrays(
    np.float64,
    st.tuples(st.integers(1, 40), st.integers(1, 9)),
    elements=st.one_of(st.just(np.nan), st.floats(-1e6, 1e6, allow_subnormal=False)),
)


class TestRankCompiled:
    @settings(max_examples=60, deadline=None)
    @given(wide)
    def test_matches_numpy_rank(self, values):
        """Radix-sort ranks equal the argsort ranks bit for bit: ties, signed zeros, inf, NaN."""
        with np.errstate(all="ignore"):
            expected = _rank_block(values)
        np.testing.assert_array_equal(_rank_compiled(values), expected)

    def test_matches_pandas_on_close_values(self):
        """Values equal in their high bits (sorted in full per group) rank like pandas."""
        rng = np.random.default_rng(3)
        base = 1.0 + np.arange(200) * np.finfo(float).eps
        values = np.stack([rng.permutation(base) for _ in range(5)])
        values[2, ::7] = np.nan
        expected = pd.DataFrame(values).rank(axis=1, pct=True).to_numpy()
        np.testing.assert_array_equal(_rank_compiled(values), expected)

    def test_close_values_beside_an_outlier(self):
        """An outlier widens the radix prefix so close values share one run (heapsort finish)."""
        rng = np.random.default_rng(6)
        base = np.append(1.0 + np.arange(300) * np.finfo(float).eps, [1e300, -1e300, np.nan])
        values = np.stack([rng.permutation(base) for _ in range(4)])
        expected = pd.DataFrame(values).rank(axis=1, pct=True).to_numpy()
        np.testing.assert_array_equal(_rank_compiled(values), expected)
        np.testing.assert_array_equal(_rank_compiled(values), _rank_block(values))

    def test_read_only_input(self):
        """A read-only (cached) panel is ranked without being written."""
        values = np.random.default_rng(1).normal(size=(4, 50))
        values.flags.writeable = False
        np.testing.assert_array_equal(_rank_compiled(values), _rank_block(values))


class TestMomentsCompiled:
    @settings(max_examples=60, deadline=None)
    @given(finite, st.integers(2, 12))
    def test_matches_numpy_kernels(self, values, window):
        """Rolling mean and std equal the numpy kernels bit for bit (same operations, order)."""
        np.testing.assert_array_equal(
            _moments_compiled(values, window, squares=False), ts_mean(values, window)
        )
        np.testing.assert_array_equal(
            _moments_compiled(values, window, squares=True), numpy_ts_std(values, window)
        )

    def test_the_embedded_data_gets_the_numpy_numbers(self, monkeypatch):
        """On 8,313 x 20 (many segments, NaN gaps) the compiled path, used there, changes no bit."""
        from stratloop.data import load_dataset  # noqa: PLC0415 - loads pandas

        returns = pct_change(load_dataset("sp500-20").close, 1)
        assert returns.size >= timeseries._COMPILED_MOMENTS
        compiled = [kernel(returns, w) for kernel in (ts_mean, numpy_ts_std) for w in (20, 252)]
        monkeypatch.setattr(timeseries, "_COMPILED_MOMENTS", 10**12)
        plain = [kernel(returns, w) for kernel in (ts_mean, numpy_ts_std) for w in (20, 252)]
        for ours, theirs in zip(compiled, plain, strict=True):
            np.testing.assert_array_equal(ours, theirs)
        assert np.isnan(plain[1]).any()
        assert np.isfinite(plain[1]).mean() > 0.5

    def test_matches_pandas_across_segments_and_strips(self):
        """A long, wide panel (several segments and column strips) equals pandas rolling."""
        rng = np.random.default_rng(8)
        values = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, (700, 300)), axis=0))
        values[rng.random(values.shape) < 0.01] = np.nan
        frame = pd.DataFrame(values).rolling(25, min_periods=25)
        for squares, expected in ((False, frame.mean()), (True, frame.std())):
            np.testing.assert_allclose(
                _moments_compiled(values, 25, squares=squares),
                expected.to_numpy(),
                rtol=1e-9,
                atol=1e-12,
            )

    @settings(max_examples=40, deadline=None)
    @given(finite, st.integers(2, 8), st.integers(1, 40))
    def test_no_look_ahead(self, values, window, keep):
        """Truncating the panel's future leaves every earlier value bit-identical."""
        keep = min(keep, values.shape[0])
        for squares in (False, True):
            full = _moments_compiled(values, window, squares=squares)
            cut = _moments_compiled(values[:keep], window, squares=squares)
            np.testing.assert_array_equal(cut, full[:keep])


class TestDecayLinearCompiled:
    @staticmethod
    def _both(values, window, monkeypatch):
        monkeypatch.setattr(timeseries, "COMPILED_SIZE", 0)
        compiled = decay_linear(values, window)
        monkeypatch.setattr(timeseries, "COMPILED_SIZE", 10**12)
        return compiled, decay_linear(values, window)

    @settings(max_examples=60, deadline=None)
    @given(
        st.one_of(
            finite,
            hnp.arrays(
                np.float64, st.tuples(st.integers(1, 30), st.integers(1, 6)), elements=ELEMENTS
            ),
        ),
        st.integers(2, 12),
    )
    def test_matches_numpy_kernel(self, values, window):
        """The weighted mean equals the numpy kernel bit for bit: NaN, inf, signed zeros."""
        with pytest.MonkeyPatch.context() as monkeypatch, np.errstate(all="ignore"):
            compiled, plain = self._both(values, window, monkeypatch)
        assert compiled.tobytes() == plain.tobytes()

    def test_across_segments_and_strips(self, monkeypatch):
        """A long, wide panel (several segments and column strips, gaps) changes no bit."""
        rng = np.random.default_rng(9)
        values = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, (900, 700)), axis=0))
        values[rng.random(values.shape) < 0.002] = np.nan
        for window in (3, 58, 250):
            compiled, plain = self._both(values, window, monkeypatch)
            assert compiled.tobytes() == plain.tobytes()
            assert np.isfinite(plain).mean() > 0.1

    @settings(max_examples=40, deadline=None)
    @given(finite, st.integers(2, 8), st.integers(1, 40))
    def test_no_look_ahead(self, values, window, keep):
        """Truncating the panel's future leaves every earlier value bit-identical."""
        keep = min(keep, values.shape[0])
        with pytest.MonkeyPatch.context() as monkeypatch:
            monkeypatch.setattr(timeseries, "COMPILED_SIZE", 0)
            full = decay_linear(values, window)
            cut = decay_linear(values[:keep], window)
        assert cut.tobytes() == full[:keep].tobytes()


class TestTsRankCompiled:
    @settings(max_examples=60, deadline=None)
    @given(
        hnp.arrays(np.float64, st.tuples(st.integers(1, 30), st.integers(1, 6)), elements=ELEMENTS),
        st.integers(1, 8),
    )
    def test_matches_numpy_kernel(self, values, window):
        """Counts over the window give the numpy kernel's ranks exactly, ties and NaN included."""
        expected = ts_rank(values, window)
        out = np.full(values.shape, np.nan)
        if window <= values.shape[0]:
            _ts_rank_compiled(values, window, [(window - 1, values.shape[0])], 2, out)
        np.testing.assert_array_equal(out, expected)

    def test_matches_pandas_with_ties_and_gaps(self):
        """Rounded prices (many ties) with gaps rank like pandas' rolling rank."""
        rng = np.random.default_rng(4)
        values = np.round(100 * np.exp(np.cumsum(rng.normal(0, 0.02, (300, 40)), axis=0)))
        values[rng.random(values.shape) < 0.02] = np.nan
        out = np.full(values.shape, np.nan)
        _ts_rank_compiled(values, 7, [(6, 150), (150, 300)], 2, out)
        expected = pd.DataFrame(values).rolling(7, min_periods=7).rank(pct=True).to_numpy()
        np.testing.assert_allclose(out, expected, rtol=1e-12, atol=0.0)

    @settings(max_examples=40, deadline=None)
    @given(finite, st.integers(1, 6), st.integers(1, 40))
    def test_no_look_ahead(self, values, window, keep):
        """Truncating the panel's future leaves every earlier rank unchanged."""
        keep = min(keep, values.shape[0])
        full = np.full(values.shape, np.nan)
        cut = np.full((keep, values.shape[1]), np.nan)
        if window <= values.shape[0]:
            _ts_rank_compiled(values, window, [(window - 1, values.shape[0])], 2, full)
        if window <= keep:
            _ts_rank_compiled(values[:keep], window, [(window - 1, keep)], 2, cut)
        np.testing.assert_array_equal(cut, full[:keep])


class TestPathChoice:
    def test_numba_loads_only_for_large_panels(self):
        """A small panel is evaluated without importing numba; a large one uses it."""
        script = (
            "import sys, numpy as np\n"
            "from stratloop.data import synthetic_panel\n"
            "from stratloop.factors import evaluate\n"
            "text = 'rank(ts_mean(returns, 5)) + ts_rank(close, 3)"
            " - rank(ts_std(close, 4) / close)'\n"
            "evaluate(text, synthetic_panel(40, 300, seed=1))\n"
            "print('numba' in sys.modules)\n"
            "evaluate(text, synthetic_panel(1000, 1000, seed=1))\n"
            "print('numba' in sys.modules)\n"
        )
        result = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, check=True
        )
        assert result.stdout.split() == ["False", "True"]
