"""Compiled (numba) kernels for large panels: same numbers as the numpy kernels, less time.

Imported only when a panel is large enough to need them (importing numba
takes a moment, compiling takes seconds once per machine: ``cache=True``
keeps the machine code next to this module). Every kernel releases the GIL,
so callers split rows over threads. Floating-point operations are the numpy
kernels' own, in the same order, without ``fastmath``: results are
bit-identical.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

import numba
import numpy as np
import numpy.typing as npt

from stratloop._types import FloatPanel

__all__ = ["compiled", "ts_rank_rows", "window_moments"]

_Counts = npt.NDArray[np.int64]
_F = TypeVar("_F", bound=Callable[..., Any])

_RELATIVE_ZERO = 1e-14
"""The numpy kernel's threshold: a window variance below this share of its mean square is 0."""


def compiled(function: _F) -> _F:
    """numba-compile ``function`` once per machine (cached on disk), GIL released."""
    return cast("_F", numba.njit(cache=True, nogil=True)(function))


@compiled
def ts_rank_rows(values: FloatPanel, window: int, begin: int, end: int, out: FloatPanel) -> None:
    """ts_rank of output rows ``begin:end`` (all >= window - 1) into ``out``.

    The numpy kernel's count: ``[x > e] + [x >= e]`` over the window's earlier
    values, then ``(count + 2) / (2 * window)``; NaN when the window has a NaN.
    """
    n_cols = values.shape[1]
    doubled = np.empty(n_cols, dtype=np.int32)
    missing = np.empty(n_cols, dtype=np.bool_)
    scale = 2.0 * window
    for row in range(begin, end):
        current = values[row]
        for column in range(n_cols):
            doubled[column] = 0
            missing[column] = np.isnan(current[column])
        for lag in range(1, window):
            earlier = values[row - lag]
            for column in range(n_cols):
                value, other = current[column], earlier[column]
                doubled[column] += np.int32(value > other) + np.int32(value >= other)
                missing[column] |= np.isnan(other)
        for column in range(n_cols):
            if missing[column]:
                out[row, column] = np.nan
            else:
                out[row, column] = (doubled[column] + 2.0) / scale


@compiled
def _accumulate(
    row: FloatPanel,
    reference: FloatPanel,
    first: FloatPanel,
    second: FloatPanel,
    gaps: _Counts,
    squares: bool,
) -> None:
    """Add one row's deviations (NaN as 0) to the running sums and count its NaN."""
    for column in range(first.shape[0]):
        value = row[column]
        absent = np.isnan(value)
        deviation = 0.0 if absent else value - reference[column]
        gaps[column] += absent
        first[column] += deviation
    if squares:
        for column in range(first.shape[0]):
            value = row[column]
            deviation = 0.0 if np.isnan(value) else value - reference[column]
            second[column] += deviation * deviation


@compiled
def _window_total(running: FloatPanel, ring: FloatPanel, total: FloatPanel, subtract: bool) -> None:
    """``total`` = running sum minus the one a window ago (in ``ring``); ``ring`` takes the new."""
    for column in range(running.shape[0]):
        value = running[column]
        total[column] = value - ring[column] if subtract else value
        ring[column] = value


@compiled
def _finish(
    total: FloatPanel,
    total_squares: FloatPanel,
    reference: FloatPanel,
    gaps: _Counts,
    window: int,
    squares: bool,
    target: FloatPanel,
) -> None:
    """One output row from the window sums: mean or std as ``_timeseries`` computes them."""
    inverse = 1.0 / window
    negative_inverse = -1.0 / window
    sample = 1.0 / (window - 1) if window > 1 else np.nan
    for column in range(total.shape[0]):
        if squares:
            variance = total[column] * total[column]
            variance *= negative_inverse
            variance += total_squares[column]
            limit = _RELATIVE_ZERO * total_squares[column] / window
            variance = 0.0 if variance < limit else variance
            variance *= sample
            result = np.sqrt(variance)
        else:
            result = total[column] * inverse + reference[column]
        target[column] = np.nan if gaps[column] > 0 else result


@compiled
def _start_segment(
    row: FloatPanel, reference: FloatPanel, gaps: _Counts, first: FloatPanel, second: FloatPanel
) -> None:
    """A segment's start: its first output row as reference (NaN as 0), sums at -0.0, no gap.

    The running sums start at -0.0, which adds exactly: the first deviation
    is the first sum, as numpy's cumulative sum has it.
    """
    for column in range(row.shape[0]):
        value = row[column]
        reference[column] = 0.0 if np.isnan(value) else value
        gaps[column] = 0
        first[column] = -0.0
        second[column] = -0.0


@compiled
def window_moments(
    values: FloatPanel,
    window: int,
    segment_rows: int,
    columns: tuple[int, int],
    strip: int,
    squares: bool,
    out: FloatPanel,
) -> None:
    """Rolling mean (``squares`` false) or sample std into ``out`` rows ``window - 1:``.

    The numpy kernels' arithmetic in their order: per segment of
    ``segment_rows`` outputs, deviations from the segment's first output row
    (NaN as 0), running sums (started at -0.0, which adds exactly), window
    sums as differences of running sums; NaN where the window holds a NaN.
    Only ``columns`` (begin, end) are computed, in strips of ``strip`` so the
    running sums stay in cache; columns are independent, so callers may split
    them over threads without changing a bit.
    """
    n_rows = values.shape[0]
    begin_column, end_column = columns
    width = min(strip, end_column - begin_column)
    ring = np.empty((window, width))
    ring_squares = np.empty((window, width))
    reference = np.empty(width)
    first = np.empty(width)
    second = np.empty(width)
    total = np.empty(width)
    total_squares = np.empty(width)
    gaps = np.empty(width, dtype=np.int64)
    for low_column in range(begin_column, end_column, strip):
        high_column = min(low_column + strip, end_column)
        width = high_column - low_column
        for start in range(window - 1, n_rows, segment_rows):
            low = start - window + 1
            stop = min(start + segment_rows, n_rows)
            _start_segment(values[start, low_column:high_column], reference, gaps, first, second)
            for row in range(low, stop):
                step = row - low
                slot = step % window
                current = values[row, low_column:high_column]
                _accumulate(
                    current, reference[:width], first[:width], second[:width], gaps[:width], squares
                )
                if step >= window:
                    previous = values[row - window, low_column:high_column]
                    for column in range(width):
                        old = previous[column]
                        gaps[column] -= np.isnan(old)
                subtract = step >= window
                _window_total(first[:width], ring[slot, :width], total[:width], subtract)
                if squares:
                    _window_total(
                        second[:width], ring_squares[slot, :width], total_squares[:width], subtract
                    )
                if step < window - 1:
                    continue
                _finish(
                    total[:width],
                    total_squares[:width],
                    reference[:width],
                    gaps[:width],
                    window,
                    squares,
                    out[row, low_column:high_column],
                )


@compiled
def decay_linear_columns(
    values: FloatPanel,
    window: int,
    segment_rows: int,
    columns: tuple[int, int],
    strip: int,
    out: FloatPanel,
) -> None:
    """Linearly weighted mean into ``out`` rows ``window - 1:``, ``columns`` (begin, end) only.

    The numpy kernel's arithmetic in its order: per segment, deviations from
    the segment's first output row (NaN as 0) and the same times their row
    index in the segment; running sums of both (started at -0.0), window sums
    as differences of running sums, then ``(weighted - offset * plain) / total
    + reference``; NaN where the window holds a NaN. Columns are independent
    and done in strips of ``strip``, as in :func:`window_moments`.
    """
    n_rows = values.shape[0]
    begin_column, end_column = columns
    total = window * (window + 1) / 2.0
    width = min(strip, end_column - begin_column)
    ring_plain = np.empty((window, width))
    ring_weighted = np.empty((window, width))
    reference = np.empty(width)
    plain = np.empty(width)
    weighted = np.empty(width)
    gaps = np.empty(width, dtype=np.int64)
    for low_column in range(begin_column, end_column, strip):
        high_column = min(low_column + strip, end_column)
        width = high_column - low_column
        for start in range(window - 1, n_rows, segment_rows):
            low = start - window + 1
            stop = min(start + segment_rows, n_rows)
            _start_segment(values[start, low_column:high_column], reference, gaps, plain, weighted)
            for row in range(low, stop):
                step = row - low
                slot = step % window
                index = float(step)
                offset = index - window
                for column in range(width):
                    value = values[row, low_column + column]
                    absent = np.isnan(value)
                    deviation = 0.0 if absent else value - reference[column]
                    gaps[column] += absent
                    plain[column] += deviation
                    weighted[column] += deviation * index
                    if step >= window:
                        gaps[column] -= np.isnan(values[row - window, low_column + column])
                        plain_sum = plain[column] - ring_plain[slot, column]
                        weighted_sum = weighted[column] - ring_weighted[slot, column]
                    else:
                        plain_sum = plain[column]
                        weighted_sum = weighted[column]
                    ring_plain[slot, column] = plain[column]
                    ring_weighted[slot, column] = weighted[column]
                    if step >= window - 1:
                        result = (weighted_sum - offset * plain_sum) / total + reference[column]
                        out[row, low_column + column] = np.nan if gaps[column] > 0 else result
