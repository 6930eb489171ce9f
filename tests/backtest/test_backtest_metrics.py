"""Metrics definitions and their degenerate cases."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from stratloop.backtest import METRIC_NAMES
from stratloop.backtest.metrics import compute_metrics


def _metrics(returns, **kwargs):
    returns = np.asarray(returns, dtype=np.float64)
    defaults = {
        "turnover": np.zeros(len(returns)),
        "invested": np.ones(len(returns), dtype=bool),
        "n_trades": 0,
    }
    return compute_metrics(returns, **{**defaults, **kwargs})


class TestDefinitions:
    def test_against_direct_formulas(self):
        """Annual return, volatility, Sharpe, Sortino, drawdown and Calmar follow the docs."""
        rng = np.random.default_rng(1)
        r = rng.normal(0.0005, 0.01, 500)
        m = _metrics(r, turnover=np.full(500, 0.1))
        equity = np.cumprod(1 + r)
        assert m.annual_return == pytest.approx(equity[-1] ** (252 / 500) - 1)
        assert m.volatility == pytest.approx(r.std(ddof=1) * math.sqrt(252))
        assert m.sharpe == pytest.approx(r.mean() / r.std(ddof=1) * math.sqrt(252))
        downside = math.sqrt(np.mean(np.minimum(r, 0) ** 2))
        assert m.sortino == pytest.approx(r.mean() / downside * math.sqrt(252))
        peak = np.maximum.accumulate(np.concatenate([[1.0], equity]))
        drawdown = (1 - np.concatenate([[1.0], equity]) / peak).max()
        assert m.max_drawdown == pytest.approx(drawdown)
        assert m.calmar == pytest.approx(m.annual_return / drawdown)
        assert m.turnover == pytest.approx(0.1 * 252)
        assert m.hit_rate == pytest.approx((r > 0).mean())
        assert m.n_days == 500

    def test_hit_rate_counts_invested_days_only(self):
        """Days without a position do not count towards the hit rate."""
        invested = np.array([False, True, True, False])
        m = _metrics([0.0, 0.01, -0.01, 0.0], invested=invested)
        assert m.hit_rate == 0.5


class TestDegenerate:
    def test_flat(self):
        """All-zero returns: every ratio is 0.0, nothing is NaN."""
        m = _metrics(np.zeros(100), invested=np.zeros(100, dtype=bool))
        assert m.as_dict() == {
            "annual_return": 0.0,
            "volatility": 0.0,
            "sharpe": 0.0,
            "sortino": 0.0,
            "max_drawdown": 0.0,
            "calmar": 0.0,
            "turnover": 0.0,
            "n_trades": 0,
            "hit_rate": 0.0,
            "n_days": 100,
            "deflated_sharpe": 0.0,
        }

    def test_constant_positive_return(self):
        """Constant returns have no volatility: Sharpe and deflated Sharpe are 0.0, not inf."""
        m = _metrics(np.full(50, 0.001))
        assert m.sharpe == 0.0
        assert m.sortino == 0.0
        assert m.deflated_sharpe == 0.0
        assert m.annual_return > 0

    @pytest.mark.parametrize("n", [0, 1, 2])
    def test_too_few_days(self, n):
        """Zero, one or two days give finite, defined metrics."""
        m = _metrics(np.full(n, 0.01))
        assert all(v is not None for v in m.as_dict().values())
        assert m.n_days == n

    @settings(max_examples=100, deadline=None)
    @given(arrays(np.float64, st.integers(0, 60), elements=st.floats(-1.0, 5.0)))
    def test_always_json_safe(self, returns):
        """Any returns >= -1 give metrics that serialise to strict JSON."""
        m = _metrics(returns)
        text = json.dumps(m.as_dict(), allow_nan=False)
        assert set(json.loads(text)) == set(METRIC_NAMES)
        assert 0.0 <= m.deflated_sharpe <= 1.0
        assert 0.0 <= m.max_drawdown <= 1.0
