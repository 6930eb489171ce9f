"""Row-wise building blocks shared by the time-series kernels.

Panels are row-major (dates x assets). numpy's accumulate along axis 0 is
slow on wide row-major arrays, so wide panels are accumulated one row at a
time (each step a vectorised operation over all assets) and narrow panels in
one call. Both give the same numbers.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from stratloop._types import FloatPanel

__all__ = [
    "COMPILED_SIZE",
    "compiled_input",
    "cumsum_rows",
    "segment_rows",
    "segments",
    "shifted",
    "window_sums",
]

_WIDE = 64
"""From this many assets on, a loop over rows beats ``np.cumsum(axis=0)``."""

COMPILED_SIZE = 1_000_000
"""From this many panel values on, kernels use the compiled (numba) versions.

Below it numpy is fast enough to skip numba's import (~0.4 s per process)
and, on a machine without its on-disk cache yet, its compilation (seconds).
The rolling moments switch earlier (``_timeseries._COMPILED_MOMENTS``).
"""

SEGMENT_VALUES = 1 << 15
"""Running sums restart every block of about this many values, so rounding cannot drift."""


def compiled_input(values: FloatPanel) -> FloatPanel:
    """A C-contiguous, read-only view (a copy only if not contiguous) for a compiled kernel.

    numba compiles one version per array type and read-only is a type of its
    own; passing every input read-only (cached values are) means one version
    per kernel, which halves the first compilation on a machine.
    """
    view = np.ascontiguousarray(values).view()
    view.flags.writeable = False
    return view


def cumsum_rows(values: FloatPanel) -> FloatPanel:
    """Cumulative sum down the rows (axis 0)."""
    if values.shape[1] < _WIDE or values.shape[0] < 2:
        return np.cumsum(values, axis=0)
    out = np.empty_like(values)
    out[0] = values[0]
    for row in range(1, values.shape[0]):
        np.add(out[row - 1], values[row], out=out[row])
    return out


def segment_rows(n_cols: int, window: int) -> int:
    """Output rows per segment of running sums (see :func:`segments`)."""
    return max(SEGMENT_VALUES // max(n_cols, 1), 4 * window, 16)


def segments(n_rows: int, n_cols: int, window: int) -> Iterator[tuple[int, int, int]]:
    """``(lo, start, stop)`` blocks: outputs ``start:stop`` need input rows ``lo:stop``.

    A block holds about ``SEGMENT_VALUES`` values (so its temporaries stay in
    cache) and at least four windows of rows (so the overlap stays small).
    Boundaries depend on the width and the window, never on the number of
    rows, so a panel and its truncation give bit-identical values (no
    look-ahead, even in rounding).
    """
    rows = segment_rows(n_cols, window)
    for start in range(window - 1, n_rows, rows):
        yield start - window + 1, start, min(start + rows, n_rows)


def window_sums(block: FloatPanel, window: int) -> FloatPanel:
    """Sums over each full window of ``block``: ``len(block) - window + 1`` rows."""
    totals = cumsum_rows(block)
    out = np.empty((block.shape[0] - window + 1, block.shape[1]))
    out[0] = totals[window - 1]
    np.subtract(totals[window:], totals[: block.shape[0] - window], out=out[1:])
    return out


def shifted(values: FloatPanel, rows: int, fill: float = np.nan) -> FloatPanel:
    """``values`` moved down by ``rows`` (row t holds row t - rows), ``fill`` above."""
    out = np.empty_like(values)
    if rows >= values.shape[0]:
        out.fill(fill)
        return out
    out[:rows] = fill
    out[rows:] = values[: values.shape[0] - rows]
    return out
