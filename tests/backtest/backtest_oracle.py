"""A straightforward day-by-day pandas backtest, written separately from the engine.

It follows the documented semantics one day at a time with labelled Series,
so that the vectorised engine can be checked against it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from stratloop.spec import Exits, LongShort, Threshold, TopN


def oracle_targets(rule, signal_row: pd.Series, close_row: pd.Series) -> pd.Series:
    """Target weights for one rebalance day."""
    eligible = signal_row[np.isfinite(signal_row) & close_row.notna()]
    weights = pd.Series(0.0, index=signal_row.index)
    if isinstance(rule, TopN):
        k = min(rule.n, len(eligible))
        chosen = eligible.rank(method="first", ascending=False) <= k
        weights[chosen[chosen].index] = 1.0 / k if k else 0.0
    elif isinstance(rule, LongShort):
        k = int(np.floor(rule.quantile * len(eligible) + 1e-9))
        if k:
            top = eligible.rank(method="first", ascending=False) <= k
            bottom = eligible.rank(method="first", ascending=True) <= k
            weights[top[top].index] = 0.5 / k
            weights[bottom[bottom].index] = -0.5 / k
    elif isinstance(rule, Threshold):
        longs = eligible[eligible > rule.upper].index
        if rule.lower is None:
            weights[longs] = 1.0 / len(longs) if len(longs) else 0.0
        else:
            shorts = eligible[eligible < rule.lower].index
            weights[longs] = 0.5 / len(longs) if len(longs) else 0.0
            weights[shorts] = -0.5 / len(shorts) if len(shorts) else 0.0
    return weights


def oracle_backtest(
    close: pd.DataFrame,
    signal: pd.DataFrame,
    rule,
    exits: Exits,
    cost_bps: float,
    start: int = 0,
    stop: int | None = None,
) -> tuple[pd.Series, pd.DataFrame]:
    """Daily returns and end-of-day weights for rows start:stop."""
    stop = len(close) if stop is None else stop
    cost = cost_bps / 10_000.0
    weights = pd.Series(0.0, index=close.columns)
    entry_price = pd.Series(np.nan, index=close.columns)
    entry_row = pd.Series(-1, index=close.columns)
    returns, held = [], []
    for row in range(start, stop):
        prices = close.iloc[row]
        gross = 0.0
        if row > start:
            previous = close.iloc[row - 1]
            asset_returns = (prices / previous - 1.0).fillna(0.0)
            gross = float((weights * asset_returns).sum())
            weights = weights * (1.0 + asset_returns) / (1.0 + gross)
        before = weights.copy()
        gone = (weights != 0) & prices.isna()
        weights[gone] = 0.0
        rebalance = (row - start) % rule.rebalance_days == 0
        if rebalance:
            weights = oracle_targets(rule, signal.iloc[row], prices)
            entry_price = prices.where(weights != 0)
            entry_row[:] = row
        else:
            ratio = prices / entry_price
            if exits.stop_loss is not None:
                long_hit = (weights > 0) & (ratio <= 1.0 - exits.stop_loss)
                short_hit = (weights < 0) & (ratio >= 1.0 + exits.stop_loss)
                weights[long_hit | short_hit] = 0.0
            if exits.max_holding_days is not None:
                weights[(weights != 0) & (row - entry_row >= exits.max_holding_days)] = 0.0
        turnover = float((weights - before).abs().sum())
        if not rebalance:
            weights = weights / (1.0 - cost * turnover)  # the cost is paid out of equity
        returns.append((1.0 + gross) * (1.0 - cost * turnover) - 1.0)
        held.append(weights.copy())
    index = close.index[start:stop]
    return pd.Series(returns, index=index), pd.DataFrame(held, index=index)
