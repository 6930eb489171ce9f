"""Compiled cross-sectional rank: a radix sort per row instead of a comparison argsort.

Each value becomes an order-preserving uint64 key (``-0.0`` as ``+0.0``, NaN
left out). Per row, the 22 key bits just below the highest bit on which the
row's keys differ are radix-sorted in two passes of 11 bits, packed with the
column number into one word, so each pass moves one array. Runs of equal
22-bit prefix are then ordered by their full keys (insertion sort, or a
heapsort of the row when that would take too long), so the order is exact
whatever the data. Ranks are
``((first + last) / 2 + 1) / count`` over each run of equal values, as in
``_crosssection._rank_block``: bit-identical results.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from stratloop._types import FloatPanel
from stratloop.factors._compiled import compiled

__all__ = ["rank_rows"]

_Words = npt.NDArray[np.uint64]

_DIGIT_BITS = 11
_BUCKETS = 1 << _DIGIT_BITS
_PREFIX_BITS = 2 * _DIGIT_BITS
_COLUMN_BITS = 32
"""The column number sits in the low 32 bits of a packed word, the prefix above it."""

_INSERTION_BUDGET = 8
"""Insertion-sort moves allowed per value before a row is heap-sorted instead."""


@compiled
def _order_keys(row: FloatPanel, bits: _Words, keys: _Words) -> tuple[int, np.uint64]:
    """Every column's key (NaN gets all ones); returns the present count and the bits that vary.

    Branch-free over the row, so it vectorises. No present value has the
    all-ones key (that would be a NaN bit pattern).
    """
    sign = np.uint64(1) << np.uint64(63)
    ones = ~np.uint64(0)
    high = np.uint64(0)
    low = ones
    missing = 0
    for column in range(row.shape[0]):
        word = bits[column]
        word = np.uint64(0) if word == sign else word
        key = word ^ ((np.uint64(0) - (word >> np.uint64(63))) | sign)
        absent = np.isnan(row[column])
        keys[column] = ones if absent else key
        high |= np.uint64(0) if absent else key
        low &= ones if absent else key
        missing += absent
    return row.shape[0] - missing, high ^ low


@compiled
def _pack(keys: _Words, varying: np.uint64, packed: _Words) -> int:
    """Pack each present column as ``prefix << 32 | column``; returns the prefix shift."""
    top = 0
    while top < 63 and varying >> np.uint64(top + 1) != 0:
        top += 1
    shift = np.uint64(max(top + 1 - _PREFIX_BITS, 0))
    mask = np.uint64((1 << _PREFIX_BITS) - 1)
    ones = ~np.uint64(0)
    count = 0
    for column in range(keys.shape[0]):
        key = keys[column]
        if key != ones:
            packed[count] = ((key >> shift) & mask) << np.uint64(_COLUMN_BITS) | np.uint64(column)
            count += 1
    return int(shift)


@compiled
def _scatter(
    source: _Words, target: _Words, count: int, offsets: npt.NDArray[np.int32], digit: int
) -> bool:
    """One stable counting-sort pass on ``digit``; false (nothing moved) when it is constant."""
    total = 0
    for bucket in range(_BUCKETS):
        size = offsets[bucket]
        if size == count:
            return False
        offsets[bucket] = total
        total += size
    shift = np.uint64(_COLUMN_BITS + _DIGIT_BITS * digit)
    mask = np.uint64(_BUCKETS - 1)
    for position in range(count):
        word = source[position]
        bucket = (word >> shift) & mask
        target[offsets[bucket]] = word
        offsets[bucket] += 1
    return True


@compiled
def _radix(packed: _Words, count: int, spare: _Words, histogram: npt.NDArray[np.int32]) -> None:
    """Stable LSD radix sort of ``packed[:count]`` on its prefix, in place.

    Both digit histograms (``histogram``, 2 x buckets, reused) come from one
    read; a pass whose digit is the same for every word is skipped.
    """
    low, high = histogram[0], histogram[1]
    for bucket in range(_BUCKETS):
        low[bucket] = 0
        high[bucket] = 0
    mask = np.uint64(_BUCKETS - 1)
    low_shift = np.uint64(_COLUMN_BITS)
    high_shift = np.uint64(_COLUMN_BITS + _DIGIT_BITS)
    for position in range(count):
        word = packed[position]
        low[(word >> low_shift) & mask] += 1
        high[(word >> high_shift) & mask] += 1
    if _scatter(packed, spare, count, low, 0):
        if not _scatter(spare, packed, count, high, 1):
            for position in range(count):
                packed[position] = spare[position]
    elif _scatter(packed, spare, count, high, 1):
        for position in range(count):
            packed[position] = spare[position]


@compiled
def _sift_down(ordered: _Words, order: npt.NDArray[np.int64], root: int, size: int) -> None:
    """Restore the max-heap below ``root`` within the first ``size`` pairs."""
    while True:
        child = 2 * root + 1
        if child >= size:
            return
        if child + 1 < size and ordered[child + 1] > ordered[child]:
            child += 1
        if ordered[root] >= ordered[child]:
            return
        ordered[root], ordered[child] = ordered[child], ordered[root]
        order[root], order[child] = order[child], order[root]
        root = child


@compiled
def _heapsort(ordered: _Words, order: npt.NDArray[np.int64], count: int) -> None:
    """Sort the first ``count`` (key, column) pairs by key in n log n, whatever the input.

    Hand-written rather than ``np.argsort``: numba compiles it in a fraction
    of the time. Equal keys may change places; they get the same rank.
    """
    for root in range(count // 2 - 1, -1, -1):
        _sift_down(ordered, order, root, count)
    for end in range(count - 1, 0, -1):
        ordered[0], ordered[end] = ordered[end], ordered[0]
        order[0], order[end] = order[end], order[0]
        _sift_down(ordered, order, 0, end)


@compiled
def _finish(
    packed: _Words, count: int, keys: _Words, ordered: _Words, order: npt.NDArray[np.int64]
) -> None:
    """``order[:count]`` / ``ordered[:count]``: the columns and their keys in full-key order.

    The words are sorted by prefix, so an insertion sort on the full keys only
    moves values within their run of equal prefix: linear for spread-out
    values. Past ``_INSERTION_BUDGET`` moves per value (many close, distinct
    values) the row is heap-sorted instead, so the worst case stays n log n.
    """
    column_mask = np.uint64((1 << _COLUMN_BITS) - 1)
    for position in range(count):
        column = np.int64(packed[position] & column_mask)
        order[position] = column
        ordered[position] = keys[column]
    budget = _INSERTION_BUDGET * count
    for position in range(1, count):
        key = ordered[position]
        if ordered[position - 1] <= key:
            continue
        column = order[position]
        slot = position
        while slot > 0 and ordered[slot - 1] > key:
            ordered[slot] = ordered[slot - 1]
            order[slot] = order[slot - 1]
            slot -= 1
        ordered[slot] = key
        order[slot] = column
        budget -= position - slot
        if budget < 0:
            _heapsort(ordered, order, count)
            return


@compiled
def rank_rows(values: FloatPanel, bits: _Words, out: FloatPanel) -> None:
    """Percentile ranks of each row of ``values`` into ``out``; NaN stays NaN.

    Args:
        values: C-contiguous float64 rows.
        bits: ``values`` viewed as uint64.
        out: the result, same shape.
    """
    n_cols = values.shape[1]
    keys = np.empty(n_cols, dtype=np.uint64)
    packed = np.empty(n_cols, dtype=np.uint64)
    spare = np.empty(n_cols, dtype=np.uint64)
    ordered = np.empty(n_cols, dtype=np.uint64)
    order = np.empty(n_cols, dtype=np.int64)
    histogram = np.empty((2, _BUCKETS), dtype=np.int32)
    for row in range(values.shape[0]):
        out[row, :] = np.nan
        count, varying = _order_keys(values[row], bits[row], keys)
        _pack(keys, varying, packed)
        _radix(packed, count, spare, histogram)
        _finish(packed, count, keys, ordered, order)
        present = float(count)
        begin = 0
        while begin < count:
            key = ordered[begin]
            end = begin + 1
            while end < count and ordered[end] == key:
                end += 1
            ranked = (float(begin) + float(end - 1)) / 2.0 + 1.0
            ranked = ranked / present
            for position in range(begin, end):
                out[row, order[position]] = ranked
            begin = end
