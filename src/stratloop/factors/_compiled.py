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

__all__ = ["DECAY", "MEAN", "STD", "compiled", "ts_rank_rows", "window_moments"]

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


MEAN, STD, DECAY = 0, 1, 2
"""What :func:`window_moments` computes: rolling mean, sample std or linearly weighted mean."""


@compiled
def _accumulate(
    row: FloatPanel,
    reference: FloatPanel,
    first: FloatPanel,
    second: FloatPanel,
    gaps: _Counts,
    kind: int,
    index: float,
) -> None:
    """Add one row's deviations (NaN as 0) to the running sums and count its NaN.

    The second sum takes the squared deviations (std) or the deviations times
    the row's index in the segment (linear decay).
    """
    for column in range(first.shape[0]):
        value = row[column]
        absent = np.isnan(value)
        deviation = 0.0 if absent else value - reference[column]
        gaps[column] += absent
        first[column] += deviation
    if kind != MEAN:
        for column in range(first.shape[0]):
            value = row[column]
            deviation = 0.0 if np.isnan(value) else value - reference[column]
            second[column] += deviation * (deviation if kind == STD else index)


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
    kind: int,
    offset: float,
    target: FloatPanel,
) -> None:
    """One output row from the window sums: mean, std or decay as ``_timeseries`` has them."""
    inverse = 1.0 / window
    negative_inverse = -1.0 / window
    sample = 1.0 / (window - 1) if window > 1 else np.nan
    weights = window * (window + 1) / 2.0
    for column in range(total.shape[0]):
        if kind == DECAY:
            result = (total_squares[column] - offset * total[column]) / weights + reference[column]
        elif kind == STD:
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
def window_moments(
    values: FloatPanel,
    window: int,
    segment_rows: int,
    columns: tuple[int, int],
    strip: int,
    kind: int,
    out: FloatPanel,
) -> None:
    """Rolling mean, sample std or linearly weighted mean (``kind``) into rows ``window - 1:``.

    The numpy kernels' arithmetic in their order: per segment of
    ``segment_rows`` outputs, deviations from the segment's first output row
    (NaN as 0), running sums (started at -0.0, which adds exactly), window
    sums as differences of running sums; NaN where the window holds a NaN.
    The linear decay's second sum weights each deviation by its row's index
    in the segment and its output is ``(weighted - offset * plain) / (n (n +
    1) / 2) + reference``, ``offset`` the output row's index minus the window.
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
            for column in range(width):
                value = values[start, low_column + column]
                reference[column] = 0.0 if np.isnan(value) else value
                gaps[column] = 0
                first[column] = -0.0
                second[column] = -0.0
            for row in range(low, stop):
                step = row - low
                slot = step % window
                current = values[row, low_column:high_column]
                _accumulate(
                    current,
                    reference[:width],
                    first[:width],
                    second[:width],
                    gaps[:width],
                    kind,
                    float(step),
                )
                if step >= window:
                    previous = values[row - window, low_column:high_column]
                    for column in range(width):
                        old = previous[column]
                        gaps[column] -= np.isnan(old)
                subtract = step >= window
                _window_total(first[:width], ring[slot, :width], total[:width], subtract)
                if kind != MEAN:
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
                    kind,
                    float(step) - window,
                    out[row, low_column:high_column],
                )
