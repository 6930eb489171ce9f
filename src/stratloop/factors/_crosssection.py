"""Cross-sectional kernels: each row (date) is transformed across its assets.

An asset with no value (NaN) that day is excluded from the row's statistics
and stays NaN. A row with too few values for the statistic is all NaN.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import numpy.typing as npt

from stratloop._types import FloatPanel
from stratloop.factors._rows import COMPILED_SIZE, compiled_input

__all__ = ["demean", "rank", "scale", "zscore"]

_PARALLEL_SIZE = 1_000_000
"""From this many values on, row blocks are ranked on several threads (sorts release the GIL)."""

_BLOCK_ROWS = 256

_PAIRWISE_COLUMNS = 32
"""Rows this narrow are ranked by comparing all pairs; 2 * 32 fits the uint8 counters."""

_PAIRWISE_BLOCK = 1 << 17
"""Values per date block of the pairwise rank: long numpy calls, scratch reused per block."""


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


def _sort_keys(values: FloatPanel, missing: npt.NDArray[np.bool_]) -> FloatPanel:
    """NaN replaced by +inf: argsort takes a much faster (SIMD) path without NaN.

    When the data holds a real +inf the NaN stay (slower, same ranks).
    """
    if not missing.any() or np.isposinf(values).any():
        return values
    return np.where(missing, np.inf, values)


def _rank_block(values: FloatPanel) -> FloatPanel:
    """Average ranks / count of present values, one argsort per row.

    Gathers and scatters go through flat indices, several times faster than
    ``take_along_axis`` / ``put_along_axis``.
    """
    n_rows, n_cols = values.shape
    missing = np.isnan(values)
    keys = _sort_keys(values, missing)
    flat = np.argsort(keys, axis=1)
    flat += (np.arange(n_rows) * n_cols)[:, None]
    ordered = np.take(keys, flat)
    counts = n_cols - missing.sum(axis=1, keepdims=True).astype(np.float64)
    positions = np.arange(n_cols, dtype=np.float64)
    starts = np.empty((n_rows, n_cols), dtype=bool)
    starts[:, 0] = True
    np.not_equal(ordered[:, 1:], ordered[:, :-1], out=starts[:, 1:])
    starts |= positions >= counts
    if starts.all():
        ranks = np.broadcast_to(positions + 1.0, (n_rows, n_cols))
    else:
        full = np.broadcast_to(positions, (n_rows, n_cols))
        ends = np.ones((n_rows, n_cols), dtype=bool)
        ends[:, :-1] = starts[:, 1:]
        first = np.maximum.accumulate(np.where(starts, full, 0.0), axis=1)
        last = np.minimum.accumulate(np.where(ends, full, n_cols - 1.0)[:, ::-1], axis=1)
        ranks = (first + last[:, ::-1]) / 2.0 + 1.0
    out = np.empty_like(values)
    with np.errstate(all="ignore"):
        out.reshape(-1)[flat] = ranks / counts
    np.copyto(out, np.nan, where=missing)
    return out


def _rank_pairwise(values: FloatPanel) -> FloatPanel:
    """The same ranks by comparing every pair of assets: faster than sorting narrow rows.

    ``[x_i > x_j] + [x_i >= x_j]`` is 2 above, 1 tied, so the sum over present
    x_j (x_i itself counting 1), plus 1, is twice the average rank. Each pair
    is compared once: for j after i, ``more = [x_j > x_i] + [x_j >= x_i]`` is
    added to x_j's count and ``2 - more`` to x_i's (NaN compares false, so an
    absent x_j adds 0 to x_j and is left out of x_i's count of present
    partners). Each block of dates is transposed so that every comparison
    runs over a long contiguous run of dates (a row of 20 assets makes
    numpy's inner loops too short to pay).
    """
    n_rows, n_cols = values.shape
    out = np.empty_like(values)
    step = max(1, _PAIRWISE_BLOCK // n_cols)
    doubled = np.empty((n_cols, min(step, n_rows)), dtype=np.uint8)
    scratch = np.empty(doubled.shape, dtype=bool)
    scratch_more = np.empty(doubled.shape, dtype=np.uint8)
    for begin in range(0, n_rows, step):
        block = values[begin : begin + step].T.copy()
        width = block.shape[1]
        counts, flags, more = doubled[:, :width], scratch[:, :width], scratch_more[:, :width]
        as_bytes = flags.view(np.uint8)
        missing = np.isnan(block)
        present = n_cols - np.count_nonzero(missing, axis=0)
        later = present.astype(np.uint8)
        counts.fill(2)
        for column in range(n_cols - 1):
            rest = slice(column + 1, n_cols)
            np.greater(block[rest], block[column], out=flags[rest])
            np.greater_equal(block[rest], block[column], out=more[rest].view(bool))
            more[rest] += as_bytes[rest]
            counts[rest] += more[rest]
            later -= ~missing[column]
            counts[column] += 2 * later
            counts[column] -= more[rest].sum(axis=0, dtype=np.uint8)
        with np.errstate(all="ignore"):
            np.divide(counts, present * 2.0, out=block)
        np.copyto(block, np.nan, where=missing)
        out[begin : begin + width] = block.T
    return out


def _rank_compiled(values: FloatPanel) -> FloatPanel:
    """The same ranks from the compiled radix-sort kernel (large panels only).

    Row blocks are written straight into the result, on threads (the kernel
    releases the GIL): no per-block arrays to allocate and copy.
    """
    from stratloop.factors._radix_rank import rank_rows  # noqa: PLC0415 - numba on demand

    values = compiled_input(values)
    bits = values.view(np.uint64)
    out = np.empty_like(values)

    def run(begin: int) -> None:
        end = begin + _BLOCK_ROWS
        rank_rows(values[begin:end], bits[begin:end], out[begin:end])

    workers = min(os.cpu_count() or 1, 8)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(run, range(0, values.shape[0], _BLOCK_ROWS)))
    return out


def rank(values: FloatPanel) -> FloatPanel:
    """Percentile rank across assets, in (0, 1]; ties get their average rank.

    Narrow rows compare all pairs; panels of ``COMPILED_SIZE`` values or more
    use the compiled kernel, others numpy's argsort: the same numbers.
    """
    if values.shape[1] <= _PAIRWISE_COLUMNS:
        return _rank_pairwise(values)
    if values.size >= COMPILED_SIZE:
        return _rank_compiled(values)
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
