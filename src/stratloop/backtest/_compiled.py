"""Compiled (numba) backtest kernels for large universes: the numpy results, less time.

Imported only when a block is large enough to need them (numba's import
costs a moment per process). A kernel moves values, it does no arithmetic
the numpy path does differently: results are bit-identical.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from stratloop._types import FloatPanel
from stratloop.factors._compiled import compiled

__all__ = ["gather_block"]


@compiled
def gather_block(
    close: FloatPanel,
    days: npt.NDArray[np.intp],
    columns: npt.NDArray[np.intp],
    out: FloatPanel,
) -> None:
    """``out[p, s, k] = close[days[p, s], columns[p, k]]``: each period's held prices.

    numpy's two-array fancy index computes a broadcast index per value; this
    walks each period's price rows once, column indices in order.
    """
    n_periods, n_steps = days.shape
    n_slots = columns.shape[1]
    for period in range(n_periods):
        for step in range(n_steps):
            row = close[days[period, step]]
            for slot in range(n_slots):
                out[period, step, slot] = row[columns[period, slot]]
