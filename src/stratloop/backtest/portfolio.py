"""Portfolio rules: a row of signals becomes target weights.

Every rule sees only assets that are *eligible* on the rebalance day: a finite
signal and a close price that day. Ties are broken by column order (the
earlier asset wins), so a selection never depends on sort stability.

- ``TopN``: the ``n`` highest signals, each ``1/k`` where ``k = min(n, eligible)``.
- ``LongShort``: with ``m`` eligible assets and ``k = floor(quantile * m)``,
  the top ``k`` get ``+0.5/k`` and the bottom ``k`` get ``-0.5/k`` (gross 1,
  net 0); ``k = 0`` means no position.
- ``Threshold``: assets with signal ``> upper`` are long; with ``lower`` set,
  those ``< lower`` are short. Long-only: the longs share 1. With ``lower``:
  longs share ``+0.5`` and shorts ``-0.5`` (an empty side holds nothing).
"""

from __future__ import annotations

import numpy as np

from stratloop._types import BoolPanel, FloatPanel
from stratloop.errors import SpecError
from stratloop.spec import LongShort, PortfolioRule, Threshold, TopN

__all__ = ["target_weights"]

_QUANTILE_EPS = 1e-9
"""Absorbs float error in ``quantile * m`` (0.29 * 100 must give 29, not 28)."""


def target_weights(rule: PortfolioRule, signal: FloatPanel, eligible: BoolPanel) -> FloatPanel:
    """Target weights for each rebalance row.

    Args:
        rule: the portfolio rule.
        signal: rebalance rows x assets signal values.
        eligible: same shape; true where the asset may be held.

    Returns:
        Rebalance rows x assets weights (0 where not held).
    """
    if isinstance(rule, TopN):
        count = eligible.sum(axis=1)
        return _equal(_top(signal, eligible, np.minimum(count, rule.n)), 1.0)
    if isinstance(rule, LongShort):
        count = eligible.sum(axis=1)
        k = np.floor(rule.quantile * count + _QUANTILE_EPS).astype(np.intp)
        longs = _equal(_top(signal, eligible, k), 0.5)
        shorts = _equal(_top(-signal, eligible, k), 0.5)
        return longs - shorts
    return _threshold(rule, signal, eligible)


def _threshold(rule: Threshold, signal: FloatPanel, eligible: BoolPanel) -> FloatPanel:
    if rule.lower is not None and rule.lower > rule.upper:
        raise SpecError(
            f"threshold rule has lower={rule.lower} above upper={rule.upper}; "
            "lower must be <= upper"
        )
    with np.errstate(invalid="ignore"):
        longs = eligible & (signal > rule.upper)
        if rule.lower is None:
            return _equal(longs, 1.0)
        shorts = eligible & (signal < rule.lower)
    return _equal(longs, 0.5) - _equal(shorts, 0.5)


def _equal(mask: BoolPanel, gross: float) -> FloatPanel:
    """Spread ``gross`` equally over each row's selected assets."""
    count = mask.sum(axis=1, keepdims=True)
    share = np.divide(gross, count, out=np.zeros(count.shape), where=count > 0)
    weights: FloatPanel = mask * share
    return weights


def _top(signal: FloatPanel, eligible: BoolPanel, k: np.ndarray) -> BoolPanel:
    """Per row, the ``k[row]`` eligible assets with the highest signal, ties to the left."""
    n_rows, n_assets = signal.shape
    if n_assets == 0 or not k.any():
        return np.zeros(signal.shape, dtype=np.bool_)
    keys = np.where(eligible, -signal, np.inf)
    if (k == k.max()).all():
        kth = np.partition(keys, int(k[0]) - 1, axis=1)[:, int(k[0]) - 1]
    else:
        ordered = np.sort(keys, axis=1)
        kth = ordered[np.arange(n_rows), np.maximum(k, 1) - 1]
    kth = kth[:, None]
    below = keys < kth
    ties = (keys == kth) & eligible
    room = (k - below.sum(axis=1))[:, None]
    chosen = below | (ties & (np.cumsum(ties, axis=1) <= room))
    chosen &= (k > 0)[:, None]
    result: BoolPanel = chosen
    return result
