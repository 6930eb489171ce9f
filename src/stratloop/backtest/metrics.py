"""Performance metrics of a daily return series, with defined degenerate cases.

Definitions (``r`` daily returns, ``A`` the annualisation, ``n`` days):

- ``annual_return``: compound annual growth, ``prod(1 + r) ** (A / n) - 1``;
  -1.0 once the equity is gone.
- ``volatility``: ``std(r, ddof=1) * sqrt(A)``; 0.0 with fewer than 2 days.
- ``sharpe``: ``mean(r) / std(r, ddof=1) * sqrt(A)`` (no risk-free rate).
- ``sortino``: ``mean(r) / sqrt(mean(min(r, 0) ** 2)) * sqrt(A)``.
- ``max_drawdown``: the largest fall from a running peak of the equity curve
  (which starts at 1), as a positive fraction (0.35 = 35%).
- ``calmar``: ``annual_return / max_drawdown``.
- ``turnover``: mean daily turnover (sum of absolute weight changes) times ``A``.
- ``n_trades``: positions opened (flat to long or short, or a side flip).
- ``hit_rate``: share of invested days (some position held from the previous
  close) with a positive return.
- ``n_days``: number of daily returns.
- ``deflated_sharpe``: see :mod:`stratloop.backtest.deflated`.

A ratio whose denominator is zero (no volatility, no downside, no drawdown, no
invested day) is 0.0: a strategy that takes no risk earns no risk-adjusted
credit. Nothing is ever NaN or infinite; :meth:`Metrics.as_dict` is JSON-safe.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from stratloop.backtest._plain import PlainRecord
from stratloop.backtest.deflated import deflated_sharpe

__all__ = ["METRIC_NAMES", "Metrics", "compute_metrics"]


@dataclass(frozen=True, slots=True)
class Metrics(PlainRecord[float | int | None]):
    """Metrics of one backtest segment (see the module docstring for definitions)."""

    annual_return: float
    volatility: float
    sharpe: float
    sortino: float
    max_drawdown: float
    calmar: float
    turnover: float
    n_trades: int
    hit_rate: float
    n_days: int
    deflated_sharpe: float


METRIC_NAMES: tuple[str, ...] = tuple(Metrics.__dataclass_fields__)
"""The metric names, in display order."""


def compute_metrics(
    returns: npt.NDArray[np.float64],
    *,
    turnover: npt.NDArray[np.float64],
    invested: npt.NDArray[np.bool_],
    n_trades: int,
    annualization: int = 252,
    n_trials: int = 1,
) -> Metrics:
    """Metrics of a daily return series.

    Args:
        returns: daily returns (finite, >= -1).
        turnover: daily turnover, same length.
        invested: true on days a position was held from the previous close.
        n_trades: positions opened.
        annualization: periods per year.
        n_trials: candidates tried in the run, for the deflated Sharpe.
    """
    n_days = len(returns)
    root = math.sqrt(annualization)
    if n_days == 0:
        return Metrics(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, n_trades, 0.0, 0, 0.0)
    mean = float(returns.mean())
    std = float(np.std(returns, ddof=1)) if n_days > 1 else 0.0
    downside = math.sqrt(float(np.mean(np.minimum(returns, 0.0) ** 2)))
    equity = np.cumprod(1.0 + returns)
    final = float(equity[-1])
    annual = final ** (annualization / n_days) - 1.0 if final > 0.0 else -1.0
    peaks = np.maximum.accumulate(np.maximum(equity, 1.0))
    drawdown = float(np.max(1.0 - equity / peaks))
    wins = returns[invested] > 0.0
    return Metrics(
        annual_return=annual,
        volatility=std * root,
        sharpe=_ratio(mean, std) * root,
        sortino=_ratio(mean, downside) * root,
        max_drawdown=drawdown,
        calmar=_ratio(annual, drawdown),
        turnover=float(turnover.mean()) * annualization,
        n_trades=n_trades,
        hit_rate=float(wins.mean()) if wins.size else 0.0,
        n_days=n_days,
        deflated_sharpe=deflated_sharpe(returns, n_trials),
    )


_TINY = 1e-12
"""Denominators below this are float noise around zero, not risk."""


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator > _TINY else 0.0
