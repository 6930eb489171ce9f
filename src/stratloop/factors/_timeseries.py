"""Time-series kernels: each value at row t uses rows t - window + 1 .. t only.

NaN rule (strict windows): if any value in a row's window is NaN, the result
is NaN, exactly like pandas ``rolling(window, min_periods=window)``. Rows
before the first full window are NaN. Zero variances and divisions by zero
give NaN, never infinities.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from stratloop._types import BoolPanel, FloatPanel
from stratloop.factors._rows import (
    COMPILED_SIZE,
    compiled_input,
    segment_rows,
    segments,
    shifted,
    window_sums,
)

__all__ = [
    "decay_linear",
    "delay",
    "delta",
    "ema",
    "pct_change",
    "ts_corr",
    "ts_max",
    "ts_mean",
    "ts_min",
    "ts_rank",
    "ts_std",
    "ts_sum",
    "ts_zscore",
]

_RELATIVE_ZERO = 1e-14
"""A window variance below this share of its mean square is rounding noise: zero."""

_CACHE_VALUES = 65_536
"""Values per row block of ts_rank: three such float64 blocks stay in a core's L2 cache."""

_BYTE_WINDOW = 128
"""ts_rank's doubled count, at most 2 * (window - 1), fits a uint8 up to this window."""

_PARALLEL_SIZE = 1_000_000
"""From this many values on, ts_rank's row blocks run on several threads."""

_STRIP = 256
"""Columns per strip of the compiled rolling moments: their running sums stay in L1/L2."""

_COMPILED_MOMENTS = 100_000
"""From this many values on, ts_mean and ts_std use the compiled running sums.

On the embedded data (8,313 x 20) they take ~0.8 / ~1.1 ms against numpy's
~1.1 / ~2.2 ms, two thirds of which is np.cumsum's sequential loop (~3.3 ns
per value, whatever the layout); a mutation that changes a ts_std window
then costs less than half the candidate's uncached time. Below this size
numba's import (~0.4 s per process) does not pay.
"""

_Combine = Callable[[list[FloatPanel], list[FloatPanel], int, int], FloatPanel]


def _finite(values: FloatPanel) -> FloatPanel:
    """Turn infinities into NaN in place and return the array."""
    infinite = np.isinf(values)
    if infinite.any():
        np.copyto(values, np.nan, where=infinite)
    return values


def _windowed(inputs: tuple[FloatPanel, ...], window: int, combine: _Combine) -> FloatPanel:
    """Run ``combine`` on each segment's NaN-free, shifted blocks; NaN where a window has NaN.

    ``combine(deviations, references, lo, start)`` gets, per input, the block
    minus a reference row (the segment's first output row, taken so that the
    running sums stay small) with NaN set to 0, and must return the outputs of
    rows ``start:stop``.
    """
    n_rows = inputs[0].shape[0]
    out = np.empty(inputs[0].shape)
    out[: window - 1] = np.nan
    for lo, start, stop in segments(n_rows, inputs[0].shape[1], window):
        blocks = [values[lo:stop] for values in inputs]
        missing = np.isnan(blocks[0])
        for block in blocks[1:]:
            missing |= np.isnan(block)
        gaps = bool(missing.any())
        references = [np.where(missing[window - 1], 0.0, block[window - 1]) for block in blocks]
        deviations = []
        for block, reference in zip(blocks, references, strict=True):
            deviation = block - reference
            if gaps:
                np.copyto(deviation, 0.0, where=missing)
            deviations.append(deviation)
        with np.errstate(all="ignore"):
            values = combine(deviations, references, lo, start)
        if gaps:
            bad = window_sums(missing.astype(np.float64), window) > 0.5
            np.copyto(values, np.nan, where=bad)
        out[start:stop] = values
    return out


def _variance(first: FloatPanel, second: FloatPanel, window: int) -> FloatPanel:
    """Sample variance from window sums of deviations and squared deviations (in place)."""
    variance = first * first
    variance *= -1.0 / window
    variance += second
    np.copyto(variance, 0.0, where=variance < _RELATIVE_ZERO * second / window)
    variance *= 1.0 / (window - 1)
    return variance


def delay(values: FloatPanel, lag: int) -> FloatPanel:
    """The value ``lag`` rows earlier."""
    return shifted(values, lag)


def delta(values: FloatPanel, lag: int) -> FloatPanel:
    """Change over ``lag`` rows."""
    return values - shifted(values, lag)


def pct_change(values: FloatPanel, lag: int) -> FloatPanel:
    """Relative change over ``lag`` rows; NaN when the earlier value is 0."""
    earlier = shifted(values, lag)
    with np.errstate(all="ignore"):
        np.divide(values, earlier, out=earlier)
    earlier -= 1.0
    return _finite(earlier)


def ts_sum(values: FloatPanel, window: int) -> FloatPanel:
    """Sum over the window."""
    if window == 1:
        return _one_row(values)

    def combine(dev: list[FloatPanel], ref: list[FloatPanel], _lo: int, _start: int) -> FloatPanel:
        sums = window_sums(dev[0], window)
        sums += window * ref[0]
        return sums

    return _windowed((values,), window, combine)


def _rolling_compiled(values: FloatPanel, window: int, kind: str) -> FloatPanel:
    """Rolling ``mean``, ``std`` or linear ``decay`` from the compiled kernel, bit for bit.

    The numpy path's numbers; columns are split into one share per core
    (whole strips), each on a thread.
    """
    from stratloop.factors import _compiled  # noqa: PLC0415 - numba on demand

    code = {"mean": _compiled.MEAN, "std": _compiled.STD, "decay": _compiled.DECAY}[kind]
    values = compiled_input(values)
    n_cols = values.shape[1]
    out = np.empty(values.shape)
    out[: window - 1] = np.nan
    rows = segment_rows(n_cols, window)
    workers = min(os.cpu_count() or 1, 8)
    share = -(-n_cols // (workers * _STRIP)) * _STRIP
    chunks = [(begin, min(begin + share, n_cols)) for begin in range(0, n_cols, share)]
    if len(chunks) == 1:
        _compiled.window_moments(values, window, rows, chunks[0], _STRIP, code, out)
        return out
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(
            pool.map(
                lambda chunk: _compiled.window_moments(
                    values, window, rows, chunk, _STRIP, code, out
                ),
                chunks,
            )
        )
    return out


def _moments_compiled(values: FloatPanel, window: int, *, squares: bool) -> FloatPanel:
    """Rolling mean or std from the compiled kernel: the numpy path's numbers, bit for bit."""
    return _rolling_compiled(values, window, "std" if squares else "mean")


def ts_mean(values: FloatPanel, window: int) -> FloatPanel:
    """Mean over the window."""
    if window == 1:
        return _one_row(values)
    if values.size >= _COMPILED_MOMENTS:
        return _moments_compiled(values, window, squares=False)

    def combine(dev: list[FloatPanel], ref: list[FloatPanel], _lo: int, _start: int) -> FloatPanel:
        sums = window_sums(dev[0], window)
        sums *= 1.0 / window
        sums += ref[0]
        return sums

    return _windowed((values,), window, combine)


def ts_std(values: FloatPanel, window: int) -> FloatPanel:
    """Sample standard deviation (ddof 1) over the window."""
    if values.size >= _COMPILED_MOMENTS and window > 1:
        return _moments_compiled(values, window, squares=True)

    def combine(dev: list[FloatPanel], _ref: list[FloatPanel], _lo: int, _s: int) -> FloatPanel:
        first = window_sums(dev[0], window)
        second = window_sums(dev[0] * dev[0], window)
        return np.sqrt(_variance(first, second, window))

    return _windowed((values,), window, combine)


def ts_zscore(values: FloatPanel, window: int) -> FloatPanel:
    """(value - window mean) / window std; NaN when the window is constant."""

    def combine(dev: list[FloatPanel], _ref: list[FloatPanel], _lo: int, _s: int) -> FloatPanel:
        first = window_sums(dev[0], window)
        second = window_sums(dev[0] * dev[0], window)
        std = np.sqrt(_variance(first, second, window))
        std[std == 0.0] = np.nan
        return (dev[0][window - 1 :] - first / window) / std

    return _windowed((values,), window, combine)


def ts_corr(left: FloatPanel, right: FloatPanel, window: int) -> FloatPanel:
    """Pearson correlation of two panels over the window; NaN when either is constant."""

    def combine(dev: list[FloatPanel], _ref: list[FloatPanel], _lo: int, _s: int) -> FloatPanel:
        x, y = dev
        sx = window_sums(x, window)
        sy = window_sums(y, window)
        vx = _variance(sx, window_sums(x * x, window), window)
        vy = _variance(sy, window_sums(y * y, window), window)
        cov = (window_sums(x * y, window) - sx * sy / window) / (window - 1)
        scale = np.sqrt(vx * vy)
        scale[scale == 0.0] = np.nan
        return np.clip(cov / scale, -1.0, 1.0)

    return _windowed((left, right), window, combine)


def decay_linear(values: FloatPanel, window: int) -> FloatPanel:
    """Linearly weighted mean, weights ``window, window - 1, ..., 1`` from the newest row."""
    if window == 1:
        return _one_row(values)
    if values.size >= COMPILED_SIZE:
        return _rolling_compiled(values, window, "decay")
    total = window * (window + 1) / 2.0

    def combine(dev: list[FloatPanel], ref: list[FloatPanel], lo: int, start: int) -> FloatPanel:
        index = np.arange(dev[0].shape[0], dtype=np.float64)[:, None]
        plain = window_sums(dev[0], window)
        weighted = window_sums(dev[0] * index, window)
        first_output = start - lo
        offset = index[first_output:] - window
        return (weighted - offset * plain) / total + ref[0]

    return _windowed((values,), window, combine)


def _one_row(values: FloatPanel) -> FloatPanel:
    """A one-row window's sum, mean or weighted mean: the input itself, exactly.

    The canonical form (``factors/canonical.py``) rewrites these to their
    argument, so they must agree bit for bit, not to rounding.
    """
    return np.array(values, dtype=np.float64, copy=True)


def _rolling_extreme(values: FloatPanel, window: int, ufunc: np.ufunc) -> FloatPanel:
    """Rolling min or max in O(1) per value (van Herk / Gil-Werman blocks)."""
    n_rows = values.shape[0]
    out = np.full(values.shape, np.nan)
    if window == 1:
        out[:] = values
        return out
    if window > n_rows:
        return out
    prefix = np.empty_like(values)
    suffix = np.empty_like(values)
    for begin in range(0, n_rows, window):
        end = min(begin + window, n_rows)
        prefix[begin] = values[begin]
        for row in range(begin + 1, end):
            ufunc(prefix[row - 1], values[row], out=prefix[row])
        suffix[end - 1] = values[end - 1]
        for row in range(end - 2, begin - 1, -1):
            ufunc(suffix[row + 1], values[row], out=suffix[row])
    ufunc(suffix[: n_rows - window + 1], prefix[window - 1 :], out=out[window - 1 :])
    return out


def _rolling_extreme_narrow(values: FloatPanel, window: int, ufunc: np.ufunc) -> FloatPanel:
    """The same blocks with one ``accumulate`` call each, for narrow panels."""
    n_rows, n_cols = values.shape
    out = np.full(values.shape, np.nan)
    if window > n_rows:
        return out
    n_blocks = -(-n_rows // window)
    padded = np.full((n_blocks * window, n_cols), np.nan)
    padded[:n_rows] = values
    blocks = padded.reshape(n_blocks, window, n_cols)
    prefix = ufunc.accumulate(blocks, axis=1).reshape(-1, n_cols)[:n_rows]
    suffix = ufunc.accumulate(blocks[:, ::-1], axis=1)[:, ::-1].reshape(-1, n_cols)[:n_rows]
    ufunc(suffix[: n_rows - window + 1], prefix[window - 1 :], out=out[window - 1 :])
    return out


def ts_min(values: FloatPanel, window: int) -> FloatPanel:
    """Minimum over the window."""
    if values.shape[1] < 64:
        return _rolling_extreme_narrow(values, window, np.minimum)
    return _rolling_extreme(values, window, np.minimum)


def ts_max(values: FloatPanel, window: int) -> FloatPanel:
    """Maximum over the window."""
    if values.shape[1] < 64:
        return _rolling_extreme_narrow(values, window, np.maximum)
    return _rolling_extreme(values, window, np.maximum)


def _rank_rows(
    values: FloatPanel, absent: BoolPanel, window: int, begin: int, end: int, out: FloatPanel
) -> None:
    """ts_rank for output rows ``begin:end`` (all >= window - 1), written into ``out``.

    ``[x > e] + [x >= e]`` is 2 below, 1 tied, 0 above, so one small integer
    sum gives twice the average rank minus one. The sum is kept in bytes
    while it fits (windows up to ``_BYTE_WINDOW``): byte additions move a
    quarter of the memory of int32 ones.
    """
    current = values[begin:end]
    counter = np.uint8 if window <= _BYTE_WINDOW else np.int32
    doubled = np.zeros(current.shape, dtype=counter)
    missing = absent[begin:end].copy()
    scratch = np.empty(current.shape, dtype=bool)
    as_bytes = scratch.view(np.uint8)
    for lag in range(1, window):
        earlier = values[begin - lag : end - lag]
        np.greater(current, earlier, out=scratch)
        doubled += as_bytes
        np.greater_equal(current, earlier, out=scratch)
        doubled += as_bytes
        np.logical_or(missing, absent[begin - lag : end - lag], out=missing)
    ranked = (doubled + 2.0) / (2.0 * window)
    np.copyto(ranked, np.nan, where=missing)
    out[begin:end] = ranked


def _ts_rank_compiled(
    values: FloatPanel, window: int, jobs: list[tuple[int, int]], workers: int, out: FloatPanel
) -> None:
    """ts_rank's row blocks through the compiled kernel, on threads (it releases the GIL)."""
    from stratloop.factors._compiled import ts_rank_rows  # noqa: PLC0415 - numba on demand

    values = compiled_input(values)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(lambda job: ts_rank_rows(values, window, job[0], job[1], out), jobs))


def ts_rank(values: FloatPanel, window: int) -> FloatPanel:
    """Percentile rank of the current value within its window, in (0, 1]; ties averaged.

    Counts, by one comparison per lag, how many window values lie below the
    current one (ties count half): no sort. Rows are processed in blocks that
    fit in cache, on several threads for large panels (numpy releases the GIL).
    """
    n_rows = values.shape[0]
    if window > n_rows:
        return np.full(values.shape, np.nan)
    out = np.empty(values.shape)
    out[: window - 1] = np.nan
    block = max(1, _CACHE_VALUES // max(values.shape[1], 1))
    starts = range(window - 1, n_rows, block)
    jobs = [(begin, min(begin + block, n_rows)) for begin in starts]
    workers = min(os.cpu_count() or 1, 8)
    if values.size >= COMPILED_SIZE:
        _ts_rank_compiled(values, window, jobs, workers, out)
        return out
    absent = np.isnan(values)
    if values.size < _PARALLEL_SIZE or workers < 2:
        for begin, stop in jobs:
            _rank_rows(values, absent, window, begin, stop, out)
        return out
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(lambda job: _rank_rows(values, absent, window, job[0], job[1], out), jobs))
    return out


def ema(values: FloatPanel, window: int) -> FloatPanel:
    """Exponential moving average, ``alpha = 2 / (window + 1)``.

    Starts at the first value of each run of non-NaN values; a NaN ends the
    run (the output is NaN there) and the average restarts after it. Values
    are NaN until a run is ``window`` rows long.
    """
    alpha = 2.0 / (window + 1.0)
    state = np.full(values.shape[1], np.nan)
    run = np.zeros(values.shape[1])
    out = np.full(values.shape, np.nan)
    for row in range(values.shape[0]):
        current = values[row]
        present = ~np.isnan(current)
        run = np.where(present, run + 1.0, 0.0)
        blended = np.where(np.isnan(state), current, alpha * current + (1.0 - alpha) * state)
        state = np.where(present, blended, np.nan)
        out[row] = np.where(run >= window, state, np.nan)
    return out
