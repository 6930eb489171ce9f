"""The tear sheet's arithmetic on daily returns: equity, drawdown, calendar and rolling figures.

Pure numpy on a returns array and its dates, written to match the usual
definitions (quantstats, pyfolio):

- equity ``E[t] = prod(1 + r[0..t])`` (growth of 1);
- drawdown ``E[t] / max(E[0..t]) - 1`` (0 at a new high, negative below);
- a period's return (month, year) ``prod(1 + r) - 1`` over its days;
- rolling Sharpe over ``w`` days ``mean / std(ddof=1) * sqrt(A)``, NaN until
  ``w`` days are in the window and where the window is flat;
- rolling beta over ``w`` days ``cov(s, b) / var(b)``, NaN likewise;
- rolling mean over ``w`` finite values of a series with gaps (the IC).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

__all__ = [
    "drawdown",
    "equity_curve",
    "monthly_returns",
    "rolling_beta",
    "rolling_mean",
    "rolling_sharpe",
    "yearly_returns",
]

Floats = npt.NDArray[np.float64]
Dates = npt.NDArray[np.datetime64]

_TINY = 1e-12


def equity_curve(returns: Floats) -> Floats:
    """Growth of 1 invested on the first day: ``cumprod(1 + r)``."""
    growth: Floats = np.cumprod(1.0 + returns).astype(np.float64, copy=False)
    return growth


def drawdown(returns: Floats) -> Floats:
    """Underwater curve: the equity's fall from its running peak (0 or negative)."""
    equity = equity_curve(returns)
    return equity / np.maximum.accumulate(equity) - 1.0


def _period_returns(returns: Floats, keys: npt.NDArray[np.int64]) -> tuple[list[int], Floats]:
    """Compounded return per distinct consecutive key (keys are sorted)."""
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    growth = np.multiply.reduceat(1.0 + returns, starts) - 1.0
    return [int(k) for k in keys[starts]], growth


def monthly_returns(dates: Dates, returns: Floats) -> dict[tuple[int, int], float]:
    """Compounded return of each calendar month, keyed ``(year, month)``."""
    months = dates.astype("datetime64[M]").astype(np.int64)
    keys, growth = _period_returns(returns, months)
    return {(1970 + k // 12, k % 12 + 1): float(g) for k, g in zip(keys, growth, strict=True)}


def yearly_returns(dates: Dates, returns: Floats) -> dict[int, float]:
    """Compounded return of each calendar year."""
    years = dates.astype("datetime64[Y]").astype(np.int64)
    keys, growth = _period_returns(returns, years)
    return {1970 + k: float(g) for k, g in zip(keys, growth, strict=True)}


def _windows(values: Floats, window: int) -> Floats:
    """Sliding windows of ``values`` (one row per window end from ``window - 1`` on)."""
    return np.lib.stride_tricks.sliding_window_view(values, window)


def rolling_sharpe(returns: Floats, window: int, annualization: int = 252) -> Floats:
    """Annualised Sharpe of each trailing ``window`` days (NaN before and where flat)."""
    out = np.full(len(returns), np.nan)
    if len(returns) < window:
        return out
    view = _windows(returns, window)
    spread = view.std(axis=1, ddof=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = view.mean(axis=1) / spread * math.sqrt(annualization)
    out[window - 1 :] = np.where(spread > _TINY, ratio, np.nan)
    return out


def rolling_beta(returns: Floats, benchmark: Floats, window: int) -> Floats:
    """OLS beta of the strategy on the benchmark over each trailing ``window`` days."""
    out = np.full(len(returns), np.nan)
    if len(returns) < window:
        return out
    s = _windows(returns, window)
    b = _windows(benchmark, window)
    sc = s - s.mean(axis=1, keepdims=True)
    bc = b - b.mean(axis=1, keepdims=True)
    var = (bc * bc).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        beta = (sc * bc).sum(axis=1) / var
    out[window - 1 :] = np.where(var > _TINY, beta, np.nan)
    return out


def rolling_mean(values: Floats, window: int) -> Floats:
    """Mean of the last ``window`` finite values at each finite point (NaN elsewhere)."""
    out = np.full(len(values), np.nan)
    finite = np.flatnonzero(np.isfinite(values))
    if len(finite) < window:
        return out
    kept = values[finite]
    sums = np.cumsum(np.r_[0.0, kept])
    out[finite[window - 1 :]] = (sums[window:] - sums[:-window]) / window
    return out
