"""Cross-sectional kernels: each row (date) is transformed across its assets.

An asset with no value (NaN) that day is excluded from the row's statistics
and stays NaN. A row with too few values for the statistic is all NaN.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from stratloop._types import FloatPanel

__all__ = ["demean", "rank", "scale", "zscore"]

_PARALLEL_SIZE = 1_000_000
"""From this many values on, row blocks are ranked on several threads (sorts release the GIL)."""

_BLOCK_ROWS = 256


def _by_row_blocks(kernel: Callable[[FloatPanel], FloatPanel], values: FloatPanel) -> FloatPanel:
    """Apply a row-independent kernel to blocks of rows, in parallel when large."""
    workers = min(os.cpu_count() or 1, 8)
    if values.size < _PARALLEL_SIZE or workers < 2:
        return kernel(values)
    out = np.empty_like(values)

    def run(begin: int) -> None:
        out[begin : begin + _BLOCK_ROWS] = kernel(values[begin : begin + _BLOCK_ROWS])

    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(run, range(0, values.shape[0], _BLOCK_ROWS)))
    return out


def _rank_block(values: FloatPanel) -> FloatPanel:
    """Average ranks / count of present values, one argsort per row."""
    n_rows, n_cols = values.shape
    order = np.argsort(values, axis=1)
    ordered = np.take_along_axis(values, order, axis=1)
    present = ~np.isnan(values)
    counts = present.sum(axis=1, keepdims=True).astype(np.float64)
    positions = np.broadcast_to(np.arange(n_cols, dtype=np.float64), (n_rows, n_cols))
    starts = np.ones((n_rows, n_cols), dtype=bool)
    np.not_equal(ordered[:, 1:], ordered[:, :-1], out=starts[:, 1:])
    if starts.all():
        ranks = positions + 1.0
    else:
        ends = np.ones((n_rows, n_cols), dtype=bool)
        ends[:, :-1] = starts[:, 1:]
        first = np.maximum.accumulate(np.where(starts, positions, 0.0), axis=1)
        last = np.minimum.accumulate(np.where(ends, positions, n_cols - 1.0)[:, ::-1], axis=1)
        ranks = (first + last[:, ::-1]) / 2.0 + 1.0
    out = np.empty_like(values)
    with np.errstate(all="ignore"):
        np.put_along_axis(out, order, ranks / counts, axis=1)
    out[~present] = np.nan
    return out


def rank(values: FloatPanel) -> FloatPanel:
    """Percentile rank across assets, in (0, 1]; ties get their average rank."""
    return _by_row_blocks(_rank_block, values)


def _row_stats(values: FloatPanel) -> tuple[FloatPanel, FloatPanel, FloatPanel]:
    """Present-value mask as floats, the count and the mean of each row."""
    present = ~np.isnan(values)
    counts = present.sum(axis=1, keepdims=True).astype(np.float64)
    with np.errstate(all="ignore"):
        means = np.where(present, values, 0.0).sum(axis=1, keepdims=True) / counts
    return present.astype(np.float64), counts, means


def demean(values: FloatPanel) -> FloatPanel:
    """Value minus the row's mean."""
    _, _, means = _row_stats(values)
    return values - means


def zscore(values: FloatPanel) -> FloatPanel:
    """(value - row mean) / row sample std (ddof 1); NaN for rows with < 2 values or no spread."""
    present, counts, means = _row_stats(values)
    deviations = np.where(present > 0, values - means, 0.0)
    with np.errstate(all="ignore"):
        std = np.sqrt((deviations * deviations).sum(axis=1, keepdims=True) / (counts - 1.0))
        std[~(std > 0.0)] = np.nan
        result: FloatPanel = (values - means) / std
    return result


def scale(values: FloatPanel) -> FloatPanel:
    """Value / the row's sum of absolute values, so each row's absolute values sum to 1."""
    gross = np.where(np.isnan(values), 0.0, np.abs(values)).sum(axis=1, keepdims=True)
    gross[gross == 0.0] = np.nan
    result: FloatPanel = values / gross
    return result
