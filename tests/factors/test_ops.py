"""Every operator against a pandas oracle written independently here."""

import numpy as np
import pandas as pd
import pytest

from stratloop.data.panel import Panel
from stratloop.factors import evaluate
from stratloop.factors._crosssection import _rank_block as _rank_block_for_test
from stratloop.factors.ops import OPERATORS, Operator, Param, build_table

ROWS, COLS = 120, 7


def _data(seed=7, *, ties=False):
    rng = np.random.default_rng(seed)
    close = 50.0 * np.exp(np.cumsum(rng.normal(0, 0.03, (ROWS, COLS)), axis=0))
    if ties:
        close = np.round(close / 5.0) * 5.0
    close[:15, 0] = np.nan  # listed late
    close[90:, 1] = np.nan  # delisted
    close[40:43, 2] = np.nan  # a gap
    close[60, :] = np.nan  # a day without prices
    other = 10.0 + np.cumsum(rng.normal(0, 1, (ROWS, COLS)), axis=0)
    other[50:52, 3] = np.nan
    dates = np.datetime64("2021-01-04") + np.arange(ROWS)
    assets = tuple(f"S{i}" for i in range(COLS))
    return Panel(dates, assets, {"close": close, "open": other})


def _frame(values):
    return pd.DataFrame(np.asarray(values, dtype=float))


def _ema(frame, n):
    out = pd.DataFrame(np.nan, index=frame.index, columns=frame.columns)
    for col in frame:
        series = frame[col]
        runs = series.isna().cumsum()
        for _, run in series[series.notna()].groupby(runs[series.notna()]):
            out.loc[run.index, col] = run.ewm(span=n, adjust=False, min_periods=n).mean()
    return out


def _decay(frame, n):
    weights = np.arange(1, n + 1, dtype=float)
    return frame.rolling(n, min_periods=n).apply(
        lambda w: float(np.dot(w, weights) / weights.sum()), raw=True
    )


def _clean(frame):
    return frame.replace([np.inf, -np.inf], np.nan)


def _rowwise_zscore(frame):
    std = frame.std(axis=1).where(lambda s: s > 0)
    return frame.sub(frame.mean(axis=1), axis=0).div(std, axis=0)


def _scale(frame):
    gross = frame.abs().sum(axis=1).replace(0.0, np.nan)
    return frame.div(gross, axis=0)


def _ts_zscore(frame, n):
    roll = frame.rolling(n, min_periods=n)
    return (frame - roll.mean()) / roll.std().where(lambda s: s > 0)


X, Y = "close", "open"

ORACLES = {
    "delay(close, 3)": lambda c, _o: c.shift(3),
    "delay(close, 0)": lambda c, _o: c,
    "delta(close, 5)": lambda c, _o: c - c.shift(5),
    "pct_change(close, 4)": lambda c, _o: _clean(c / c.shift(4) - 1),
    "ts_mean(close, 10)": lambda c, _o: c.rolling(10, min_periods=10).mean(),
    "ts_std(close, 10)": lambda c, _o: c.rolling(10, min_periods=10).std(),
    "ts_sum(close, 7)": lambda c, _o: c.rolling(7, min_periods=7).sum(),
    "ts_min(close, 9)": lambda c, _o: c.rolling(9, min_periods=9).min(),
    "ts_max(close, 9)": lambda c, _o: c.rolling(9, min_periods=9).max(),
    "ts_min(close, 1)": lambda c, _o: c,
    "ts_rank(close, 8)": lambda c, _o: c.rolling(8, min_periods=8).rank(pct=True),
    "ts_zscore(close, 12)": lambda c, _o: _ts_zscore(c, 12),
    "ts_corr(close, open, 15)": lambda c, o: c.rolling(15, min_periods=15).corr(o),
    "ema(close, 6)": lambda c, _o: _ema(c, 6),
    "decay_linear(close, 6)": lambda c, _o: _decay(c, 6),
    "rank(close)": lambda c, _o: c.rank(axis=1, pct=True),
    "zscore(close)": lambda c, _o: _rowwise_zscore(c),
    "demean(close)": lambda c, _o: c.sub(c.mean(axis=1), axis=0),
    "scale(open - 10)": lambda _c, o: _scale(o - 10),
    "abs(open - 10)": lambda _c, o: (o - 10).abs(),
    "sign(open - 10)": lambda _c, o: np.sign(o - 10),
    "log(open - 10)": lambda _c, o: np.log((o - 10).where(o - 10 > 0)),
    "sqrt(open - 10)": lambda _c, o: np.sqrt((o - 10).where(o - 10 >= 0)),
    "clip(open, 8, 12)": lambda _c, o: o.clip(8, 12),
    "where(close > open, close, open)": lambda c, o: c.where(c > o, o).where(
        c.notna() & o.notna()
    ),
    "min(close, open)": lambda c, o: np.minimum(c, o),
    "max(close, 60)": lambda c, _o: c.clip(lower=60),
    "close / (open - 10)": lambda c, o: _clean(c / (o - 10)),
    "returns": lambda c, _o: c / c.shift(1) - 1,
}


def _assert_same(actual, expected):
    expected = np.asarray(expected, dtype=float)
    assert actual.shape == expected.shape
    np.testing.assert_array_equal(np.isnan(actual), np.isnan(expected))
    np.testing.assert_allclose(actual, expected, rtol=1e-9, atol=1e-10, equal_nan=True)


class TestOracles:
    @pytest.mark.parametrize("text", sorted(ORACLES))
    def test_matches_pandas(self, text):
        """The kernel equals a straightforward pandas implementation, NaNs included."""
        panel = _data()
        close, open_ = _frame(panel.close), _frame(panel.fields["open"])
        _assert_same(evaluate(text, panel), ORACLES[text](close, open_))

    @pytest.mark.parametrize("text", ["rank(close)", "ts_rank(close, 8)", "ts_max(close, 4)"])
    def test_ties_match_pandas(self, text):
        """Ties get the average rank, as pandas' default method."""
        panel = _data(3, ties=True)
        close, open_ = _frame(panel.close), _frame(panel.fields["open"])
        oracle = ORACLES.get(text, lambda c, _o: c.rolling(4, min_periods=4).max())
        _assert_same(evaluate(text, panel), oracle(close, open_))

    def test_every_operator_has_an_oracle(self):
        """No operator escapes the oracle comparison."""
        covered = {text.split("(")[0] for text in ORACLES}
        assert set(OPERATORS) <= covered

    def test_wide_panel_paths_match_narrow(self):
        """The row-loop kernels used for wide panels give the narrow results."""
        rng = np.random.default_rng(5)
        close = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, (300, 80)), axis=0))
        close[rng.random(close.shape) < 0.02] = np.nan
        dates = np.arange(300).astype("datetime64[D]")
        wide = Panel(dates, tuple(map(str, range(80))), {"close": close})
        frame = _frame(close)
        _assert_same(evaluate("ts_max(close, 20)", wide), frame.rolling(20, min_periods=20).max())
        _assert_same(evaluate("ts_mean(close, 20)", wide), frame.rolling(20, min_periods=20).mean())

    @pytest.mark.parametrize("ties", [False, True])
    def test_sorting_rank_matches_pairwise_rank(self, ties):
        """Wide rows (argsort path) rank exactly like pandas, with ties and gaps."""
        rng = np.random.default_rng(12)
        close = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, (200, 90)), axis=0))
        if ties:
            close = np.round(close)
        close[rng.random(close.shape) < 0.1] = np.nan
        close[7] = np.nan
        panel = Panel(np.arange(200).astype("datetime64[D]"), tuple(map(str, range(90))),
                      {"close": close})
        _assert_same(evaluate("rank(close)", panel), _frame(close).rank(axis=1, pct=True))

    def test_rank_with_infinite_values(self):
        """A real +inf keeps the exact (NaN-aware) sort and ranks last among present values."""
        close = np.array([[1.0, np.inf, np.nan, 3.0] * 10])
        with np.errstate(all="ignore"):
            out = _rank_block_for_test(close)
        _assert_same(out, _frame(close).rank(axis=1, pct=True))

    def test_threaded_paths_match_pandas(self):
        """Panels above a million values use threads for rank and ts_rank, same numbers."""
        rng = np.random.default_rng(2)
        close = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, (1100, 1000)), axis=0))
        close[rng.random(close.shape) < 0.02] = np.nan
        panel = Panel(np.arange(1100).astype("datetime64[D]"), tuple(map(str, range(1000))),
                      {"close": close})
        frame = _frame(close)
        _assert_same(evaluate("rank(close)", panel), frame.rank(axis=1, pct=True))
        _assert_same(evaluate("ts_rank(close, 5)", panel),
                     frame.rolling(5, min_periods=5).rank(pct=True))

    def test_long_panel_crosses_segments(self):
        """Running sums restart every segment without changing the values."""
        rng = np.random.default_rng(9)
        close = 1000 * np.exp(np.cumsum(rng.normal(0, 0.02, (2600, 3)), axis=0))
        dates = np.arange(2600).astype("datetime64[D]")
        panel = Panel(dates, ("a", "b", "c"), {"close": close})
        frame = _frame(close)
        _assert_same(evaluate("ts_std(close, 30)", panel), frame.rolling(30).std())
        _assert_same(evaluate("decay_linear(close, 30)", panel), _decay(frame, 30))

    def test_constant_window_has_no_spread(self):
        """A constant window gives std 0 and an undefined z-score, not noise."""
        close = np.full((30, 2), 123.456)
        panel = Panel(np.arange(30).astype("datetime64[D]"), ("a", "b"), {"close": close})
        assert np.all(evaluate("ts_std(close, 5)", panel)[4:] == 0.0)
        assert np.all(np.isnan(evaluate("ts_zscore(close, 5)", panel)))


class TestTable:
    def test_duplicate_names_are_an_error(self):
        """Building a table with a name twice fails instead of overriding."""
        op = OPERATORS["rank"]
        with pytest.raises(ValueError, match="duplicate operator name 'rank'"):
            build_table([op, op])

    def test_signatures(self):
        """Signatures read like the reference."""
        assert OPERATORS["ts_mean"].signature == "ts_mean(x: panel, n: int >= 1) -> panel"
        assert OPERATORS["delay"].params[1] == Param("n", "window", 0)
        assert OPERATORS["abs"].signature == "abs(a: num) -> num"
        assert isinstance(OPERATORS["ts_corr"], Operator)

    def test_lookback_rules(self):
        """Window operators need n - 1 earlier rows, lags n."""
        assert OPERATORS["ts_mean"].rows_needed([1], 20) == 20
        assert OPERATORS["delay"].rows_needed([0], 5) == 5
        assert OPERATORS["rank"].rows_needed([3], 0) == 3
