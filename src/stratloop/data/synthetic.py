"""Seeded synthetic price panels for scale tests and benchmarks.

Returns follow a one-factor model: ``r[t, j] = beta[j] * m[t] + e[t, j]`` with
a market return ``m`` and independent idiosyncratic noise ``e``. With
``listing_gaps`` some assets list after the first date and some delist before
the last, both shown as NaN runs, so that the backtest meets the same
missing-price cases real data has.
"""

from __future__ import annotations

import numpy as np

from stratloop.data.panel import Panel
from stratloop.errors import DataError

__all__ = ["planted_panel", "synthetic_panel"]

_FIRST_DATE = np.datetime64("2000-01-03", "D")
_MIN_LISTED = 0.5
"""Every asset is listed for at least this share of the dates."""


def synthetic_panel(
    n_assets: int,
    n_dates: int,
    *,
    seed: int,
    listing_gaps: bool = True,
    market_drift: float = 0.0003,
) -> Panel:
    """A reproducible ``n_dates`` x ``n_assets`` close-price panel on business days from 2000.

    Args:
        n_assets: number of assets (columns), at least 1.
        n_dates: number of business days (rows), at least 2.
        seed: the generator seed; the same seed gives the same panel bit for bit.
        listing_gaps: when true, about 20% of assets list late and 20% delist
            early (NaN before listing / after delisting), each listed for at
            least half of the dates.
        market_drift: the market's mean daily log return; 0 makes every asset
            a driftless random walk, where no strategy can have an edge.
    """
    if n_assets < 1 or n_dates < 2:
        raise DataError(
            f"synthetic_panel needs n_assets >= 1 and n_dates >= 2, got {n_assets} and {n_dates}"
        )
    rng = np.random.default_rng(seed)
    market = rng.normal(market_drift, 0.011, size=(n_dates, 1))
    beta = rng.uniform(0.5, 1.5, size=(1, n_assets))
    vol = rng.uniform(0.01, 0.03, size=(1, n_assets))
    noise = rng.standard_normal((n_dates, n_assets))
    noise *= vol
    noise += beta * market
    noise[0] = 0.0
    np.cumsum(noise, axis=0, out=noise)
    start_price = rng.uniform(10.0, 200.0, size=(1, n_assets))
    close = np.exp(noise, out=noise)
    close *= start_price
    if listing_gaps:
        _gaps(close, rng)
    dates = np.busday_offset(_FIRST_DATE, np.arange(n_dates), roll="forward")
    assets = tuple(f"S{j:05d}" for j in range(n_assets))
    return Panel(dates=dates, assets=assets, fields={"close": close}, name=f"synthetic-{seed}")


def _gaps(close: np.ndarray, rng: np.random.Generator) -> None:
    n_dates, n_assets = close.shape
    span = int(n_dates * (1 - _MIN_LISTED) / 2)
    late = rng.random(n_assets) < 0.2
    early = rng.random(n_assets) < 0.2
    listing = np.where(late, rng.integers(0, span + 1, n_assets), 0)
    delisting = np.where(early, n_dates - rng.integers(0, span + 1, n_assets), n_dates)
    rows = np.arange(n_dates)[:, None]
    close[(rows < listing) | (rows >= delisting)] = np.nan


def planted_panel(
    n_assets: int,
    n_dates: int,
    *,
    seed: int,
    strength: float = 0.1,
    lookback: int = 5,
) -> Panel:
    """A driftless panel with a known, scale-free edge: short-term reversal of a given strength.

    Each day's log return of asset ``j`` is ``vol * (strength * s[j] +
    sqrt(1 - strength**2) * e[j])``, where ``s`` is minus the cross-sectional
    z-score of the assets' returns over the previous ``lookback`` days and
    ``e`` is independent noise: the next day's return has a correlation of
    about ``strength`` with ``-pct_change(close, lookback)`` ranked across
    assets (its daily IC), and none with any price level. Tests use it to
    prove the loop finds a planted signal, and nothing on
    :func:`synthetic_panel` with ``market_drift=0``.

    Args:
        n_assets: number of assets, at least 2 (the signal is cross-sectional).
        n_dates: number of business days, more than ``lookback``.
        seed: the generator seed; the same seed gives the same panel bit for bit.
        strength: the daily IC, from 0 (no signal) to below 1.
        lookback: the days of past return the reversal looks at.
    """
    if n_assets < 2 or n_dates <= lookback or lookback < 1 or not 0.0 <= strength < 1.0:
        raise DataError(
            f"planted_panel needs n_assets >= 2, n_dates > lookback >= 1 and 0 <= strength < 1, "
            f"got {n_assets}, {n_dates}, {lookback} and {strength}"
        )
    rng = np.random.default_rng(seed)
    vol = rng.uniform(0.01, 0.03, size=n_assets)
    noise = rng.standard_normal((n_dates, n_assets))
    log_price = np.zeros((n_dates, n_assets))
    keep = np.sqrt(1.0 - strength**2)
    for t in range(1, n_dates):
        step = keep * noise[t]
        if t > lookback:
            past = log_price[t - 1] - log_price[t - 1 - lookback]
            spread = past.std()
            if spread > 0:
                step += strength * -(past - past.mean()) / spread
        log_price[t] = log_price[t - 1] + vol * step
    close = rng.uniform(10.0, 200.0, size=n_assets) * np.exp(log_price)
    dates = np.busday_offset(_FIRST_DATE, np.arange(n_dates), roll="forward")
    assets = tuple(f"P{j:05d}" for j in range(n_assets))
    return Panel(dates=dates, assets=assets, fields={"close": close}, name=f"planted-{seed}")
