"""The engine against a day-by-day pandas oracle, look-ahead properties and input checks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from backtest_oracle import oracle_backtest
from hypothesis import given, settings
from hypothesis import strategies as st

from stratloop.backtest import _simulate as simulate_module
from stratloop.backtest import run_backtest
from stratloop.data import Panel, synthetic_panel
from stratloop.errors import BacktestError
from stratloop.spec import Exits, LongShort, Strategy, Threshold, TopN

PANEL = synthetic_panel(15, 300, seed=3)
_RNG = np.random.default_rng(0)
SIGNAL = _RNG.standard_normal(PANEL.shape)
SIGNAL[_RNG.random(PANEL.shape) < 0.05] = np.nan

CASES = [
    pytest.param(TopN(n=4, rebalance_days=7), Exits(), id="top-n"),
    pytest.param(LongShort(quantile=0.3, rebalance_days=5), Exits(), id="long-short"),
    pytest.param(
        TopN(n=3, rebalance_days=10), Exits(stop_loss=0.03, max_holding_days=6), id="top-n-exits"
    ),
    pytest.param(LongShort(quantile=0.2, rebalance_days=9), Exits(stop_loss=0.02), id="ls-stop"),
    pytest.param(
        Threshold(upper=0.5, lower=-0.5, rebalance_days=3),
        Exits(max_holding_days=2),
        id="threshold-hold",
    ),
    pytest.param(Threshold(upper=0.8, rebalance_days=4), Exits(), id="threshold-long"),
    pytest.param(TopN(n=4, rebalance_days=1), Exits(), id="daily"),
]


class TestAgainstPandasOracle:
    @pytest.mark.parametrize(("rule", "exits"), CASES)
    @pytest.mark.parametrize(("start", "stop"), [(0, None), (13, 250)])
    def test_returns_and_weights_match(self, rule, exits, start, stop):
        """Daily returns and end-of-day weights equal the day-by-day pandas version to 1e-10."""
        result = run_backtest(SIGNAL, PANEL, rule, exits=exits, cost_bps=10, start=start, stop=stop)
        returns, weights = oracle_backtest(
            pd.DataFrame(PANEL.close), pd.DataFrame(SIGNAL), rule, exits, 10, start, stop
        )
        assert np.abs(result.returns - returns.to_numpy()).max() < 1e-10
        assert np.abs(result.weights() - weights.to_numpy()).max() < 1e-10

    def test_exits_fire_in_the_comparison(self):
        """The exit case really closes positions between rebalances (the test is not vacuous)."""
        rule, exits = TopN(n=3, rebalance_days=10), Exits(stop_loss=0.03, max_holding_days=6)
        with_exits = run_backtest(SIGNAL, PANEL, rule, exits=exits, cost_bps=10)
        without = run_backtest(SIGNAL, PANEL, rule, cost_bps=10)
        assert not np.allclose(with_exits.returns, without.returns)
        off_rebalance = np.arange(len(PANEL.dates)) % 10 != 0
        assert (with_exits.turnover[off_rebalance] > 0).sum() > (
            without.turnover[off_rebalance] > 0
        ).sum()

    def test_delistings_are_exercised(self):
        """The comparison panel has assets that list and delist inside the sample."""
        missing = np.isnan(PANEL.close)
        assert missing.any()
        assert (~missing).any(axis=0).all()


class TestSemantics:
    def test_first_day_pays_only_the_cost(self):
        """Nothing is held before start, so day one returns minus the cost of buying."""
        result = run_backtest(SIGNAL, PANEL, TopN(n=4), cost_bps=25, start=5)
        assert result.returns[0] == pytest.approx(-25e-4)
        assert result.turnover[0] == pytest.approx(1.0)

    def test_zero_cost_no_turnover_charge(self):
        """With zero costs a constant signal's returns are the held assets' mean return."""
        panel = synthetic_panel(6, 40, seed=2, listing_gaps=False)
        signal = np.tile(np.arange(6.0), (40, 1))
        result = run_backtest(signal, panel, TopN(n=6, rebalance_days=1), cost_bps=0)
        asset_returns = panel.close[1:] / panel.close[:-1] - 1
        assert np.allclose(result.returns[1:], asset_returns.mean(axis=1), atol=1e-12)

    def test_strategy_and_rule_are_equivalent(self):
        """A Strategy gives the same result as its rule and exits passed separately."""
        exits = Exits(stop_loss=0.05)
        strategy = Strategy(expression="returns", portfolio=TopN(n=3), exits=exits)
        a = run_backtest(SIGNAL, PANEL, strategy, cost_bps=10)
        b = run_backtest(SIGNAL, PANEL, TopN(n=3), exits=exits, cost_bps=10)
        assert np.array_equal(a.returns, b.returns)

    def test_ruin_stops_the_strategy(self):
        """Equity wiped out: that day returns -1, later days 0 and no weights."""
        close = np.array([[10.0, 10.0], [10.0, 40.0], [10.0, 41.0], [10.0, 42.0]])
        panel = Panel(dates=PANEL.dates[:4], assets=("a", "b"), fields={"close": close})
        signal = np.array([[1.0, 0.0]] * 4)
        result = run_backtest(signal, panel, LongShort(quantile=0.5, rebalance_days=4), cost_bps=0)
        assert result.returns[1] == -1.0
        assert (result.returns[2:] == 0.0).all()
        assert (result.weights()[1:] == 0.0).all()
        assert result.metrics.annual_return == -1.0
        assert result.metrics.max_drawdown == pytest.approx(1.0)

    def test_missing_price_closes_at_last_price(self):
        """A held asset whose price disappears earns 0 that day and is sold (turnover)."""
        close = np.array([[10.0, 10.0], [11.0, 10.0], [np.nan, 10.0], [np.nan, 10.0]])
        panel = Panel(dates=PANEL.dates[:4], assets=("a", "b"), fields={"close": close})
        signal = np.array([[1.0, 0.0]] * 4)
        result = run_backtest(signal, panel, TopN(n=1, rebalance_days=4), cost_bps=0)
        assert result.returns[1] == pytest.approx(0.1)
        assert result.returns[2] == 0.0
        assert result.turnover[2] == pytest.approx(1.0)
        assert (result.weights()[2:] == 0.0).all()


def _momentum(close: np.ndarray) -> np.ndarray:
    signal = np.full_like(close, np.nan)
    signal[5:] = close[5:] / close[:-5]
    return signal


class TestNoLookAhead:
    @settings(max_examples=40, deadline=None)
    @given(
        cut=st.integers(min_value=0, max_value=58),
        seed=st.integers(min_value=0, max_value=2**16),
        period=st.integers(min_value=1, max_value=9),
        stop_loss=st.one_of(st.none(), st.floats(min_value=0.01, max_value=0.2)),
        kind=st.sampled_from(["top", "ls"]),
    )
    def test_future_data_never_changes_past_positions(self, cut, seed, period, stop_loss, kind):
        """Changing any data after day t leaves weights held into t+1 and returns to t unchanged."""
        panel = synthetic_panel(8, 60, seed=seed)
        rng = np.random.default_rng(seed + 1)
        close = panel.close.copy()
        tail = close[cut + 1 :]
        tail *= rng.uniform(0.5, 2.0, size=tail.shape)
        tail[rng.random(tail.shape) < 0.1] = np.nan
        changed = Panel(dates=panel.dates, assets=panel.assets, fields={"close": close})
        rule = TopN(n=3, rebalance_days=period) if kind == "top" else LongShort(
            quantile=0.25, rebalance_days=period
        )
        exits = Exits(stop_loss=stop_loss)
        before = run_backtest(_momentum(panel.close), panel, rule, exits=exits, cost_bps=10)
        after = run_backtest(_momentum(close), changed, rule, exits=exits, cost_bps=10)
        assert np.array_equal(before.weights()[: cut + 1], after.weights()[: cut + 1])
        assert np.array_equal(before.returns[: cut + 1], after.returns[: cut + 1])


class TestInputChecks:
    def test_shape_mismatch(self):
        """A signal of the wrong shape is named with both shapes."""
        with pytest.raises(BacktestError, match=r"shape \(10, 15\)"):
            run_backtest(SIGNAL[:10], PANEL, TopN(n=2), cost_bps=10)

    def test_integer_signal(self):
        """A non-float64 signal is rejected."""
        with pytest.raises(BacktestError, match="float64"):
            run_backtest(np.zeros(PANEL.shape, dtype=np.int64), PANEL, TopN(n=2), cost_bps=10)

    @pytest.mark.parametrize("cost", [-1.0, float("nan"), 20_000.0])
    def test_bad_cost(self, cost):
        """Negative, NaN or absurd costs are rejected."""
        with pytest.raises(BacktestError, match="cost_bps"):
            run_backtest(SIGNAL, PANEL, TopN(n=2), cost_bps=cost)

    @pytest.mark.parametrize(("start", "stop"), [(-1, None), (10, 10), (0, 301)])
    def test_bad_range(self, start, stop):
        """An empty or out-of-range row range is rejected."""
        with pytest.raises(BacktestError, match="do not select"):
            run_backtest(SIGNAL, PANEL, TopN(n=2), cost_bps=10, start=start, stop=stop)

    def test_exits_twice(self):
        """Exits passed besides a Strategy's own are ambiguous."""
        strategy = Strategy(expression="returns", portfolio=TopN(n=3))
        with pytest.raises(BacktestError, match="exits"):
            run_backtest(SIGNAL, PANEL, strategy, exits=Exits(), cost_bps=10)

    def test_non_positive_price(self):
        """A zero price on a held asset is named with its date."""
        close = np.array([[10.0, 10.0], [0.0, 10.0], [10.0, 10.0]])
        panel = Panel(dates=PANEL.dates[:3], assets=("a", "b"), fields={"close": close})
        with pytest.raises(BacktestError, match=r"close price of a on 2000-01-04"):
            run_backtest(np.array([[1.0, 0.0]] * 3), panel, TopN(n=1, rebalance_days=3), cost_bps=0)


class TestLargeUniverse:
    """From ``COMPILED_SIZE`` on, a compiled kernel gathers held prices: the same numbers."""

    WIDE = synthetic_panel(300, 120, seed=5)

    @pytest.mark.parametrize(
        ("rule", "exits"),
        [
            pytest.param(Threshold(upper=0.0, rebalance_days=5), Exits(), id="equal-weight"),
            pytest.param(
                LongShort(quantile=0.4, rebalance_days=6), Exits(stop_loss=0.02), id="ls-stop"
            ),
        ],
    )
    def test_compiled_gather_is_bit_identical(self, rule, exits, monkeypatch):
        signal = np.random.default_rng(1).standard_normal(self.WIDE.shape)
        monkeypatch.setattr(simulate_module, "COMPILED_SIZE", 0)
        compiled = run_backtest(signal, self.WIDE, rule, exits=exits, cost_bps=10, start=3)
        monkeypatch.setattr(simulate_module, "COMPILED_SIZE", 10**12)
        plain = run_backtest(signal, self.WIDE, rule, exits=exits, cost_bps=10, start=3)
        assert compiled.returns.tobytes() == plain.returns.tobytes()
        assert compiled.turnover.tobytes() == plain.turnover.tobytes()
        assert np.array_equal(compiled.weights(), plain.weights())
        assert np.array_equal(compiled.trades, plain.trades)

    def test_a_non_positive_held_price_is_named(self, monkeypatch):
        monkeypatch.setattr(simulate_module, "COMPILED_SIZE", 0)
        close = self.WIDE.close.copy()
        close[7, 11] = -1.0
        panel = Panel(dates=self.WIDE.dates, assets=self.WIDE.assets, fields={"close": close})
        with pytest.raises(BacktestError, match=rf"close price of {panel.assets[11]} on"):
            run_backtest(np.ones(panel.shape), panel, Threshold(upper=0.0), cost_bps=0, start=5)

    def test_a_non_positive_price_never_held_is_ignored(self, monkeypatch):
        monkeypatch.setattr(simulate_module, "COMPILED_SIZE", 0)
        close = self.WIDE.close.copy()
        close[7, 11] = 0.0
        signal = np.ones(self.WIDE.shape)
        signal[:, 11] = np.nan
        panel = Panel(dates=self.WIDE.dates, assets=self.WIDE.assets, fields={"close": close})
        result = run_backtest(signal, panel, Threshold(upper=0.0), cost_bps=0, start=5)
        assert np.all(result.weights()[:, 11] == 0.0)
