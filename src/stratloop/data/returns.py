"""Derived fields computed from a panel's prices."""

from __future__ import annotations

import numpy as np

from stratloop._types import FloatPanel

__all__ = ["simple_returns"]


def simple_returns(close: FloatPanel) -> FloatPanel:
    """Day-over-day simple returns ``close[t] / close[t-1] - 1``.

    Row 0, and any day where either price is missing, is NaN: a return needs
    two prices, and a gap is never bridged across missing days.

    Args:
        close: dates x assets close prices (NaN = no price).

    >>> simple_returns(np.array([[100.0], [110.0], [np.nan], [121.0]])).ravel().tolist()
    [nan, 0.10000000000000009, nan, nan]
    """
    out = np.empty_like(close, dtype=np.float64)
    out[0] = np.nan
    np.divide(close[1:], close[:-1], out=out[1:])
    out[1:] -= 1.0
    return out
