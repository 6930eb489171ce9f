"""Checks that turn a raw price table into a panel the backtest can trust."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from stratloop._types import FloatPanel
from stratloop.errors import DataError

__all__ = ["check_dates", "check_values"]

_SHOWN = 5


def check_dates(dates: npt.NDArray[np.datetime64], *, source: str) -> None:
    """Reject empty, unsorted or duplicated dates.

    Args:
        dates: the dates in file order.
        source: the file or dataset named in the message.
    """
    if len(dates) == 0:
        raise DataError(f"{source}: no rows of prices; the file must hold at least one date")
    if np.isnat(dates).any():
        row = int(np.flatnonzero(np.isnat(dates))[0])
        raise DataError(f"{source}: date on data row {row + 1} is empty or unreadable")
    steps = np.diff(dates.astype("datetime64[D]").astype(np.int64))
    if (steps == 0).any():
        row = int(np.flatnonzero(steps == 0)[0])
        raise DataError(
            f"{source}: duplicate date {dates[row + 1]} (data rows {row + 1} and {row + 2}); "
            "each date must appear once"
        )
    if (steps < 0).any():
        row = int(np.flatnonzero(steps < 0)[0])
        raise DataError(
            f"{source}: dates are not sorted: {dates[row + 1]} (data row {row + 2}) comes after "
            f"{dates[row]}; sort the file by date, oldest first"
        )


def check_values(
    fields: dict[str, FloatPanel],
    dates: npt.NDArray[np.datetime64],
    assets: tuple[str, ...],
    *,
    source: str,
) -> None:
    """Reject non-positive, infinite or implausibly large values and assets without any price.

    Args:
        fields: field name -> dates x assets float array (NaN = no value).
        dates: the panel's dates.
        assets: the panel's asset names.
        source: the file or dataset named in the message.
    """
    for name, values in fields.items():
        bad = np.isinf(values)
        if bad.any():
            _raise_cell(source, name, "is infinite", "values must be finite", bad, dates, assets)
        floor_ok = values >= 0 if name == "volume" else values > 0
        bad = ~floor_ok & ~np.isnan(values)
        if bad.any():
            what = "is negative" if name == "volume" else "is not positive"
            rule = "volumes must be >= 0" if name == "volume" else "prices must be > 0"
            _raise_cell(source, name, what, rule, bad, dates, assets)
        bad = values > _CEILING
        if bad.any():
            rule = "a value that large is a data error: check the file's units"
            _raise_cell(source, name, f"is above {_CEILING:.0e}", rule, bad, dates, assets)
    close = fields["close"]
    empty = np.isnan(close).all(axis=0)
    if empty.any():
        names = [assets[i] for i in np.flatnonzero(empty)]
        more = len(names) - _SHOWN
        shown = ", ".join(names[:_SHOWN]) + (f" and {more} more" if more > 0 else "")
        raise DataError(
            f"{source}: {len(names)} asset(s) have no close price on any date: {shown}; "
            "remove those columns"
        )


_CEILING = 1e15
"""Larger prices or volumes are data errors (and overflow returns and their squares)."""


def _raise_cell(
    source: str,
    field: str,
    problem: str,
    rule: str,
    bad: npt.NDArray[np.bool_],
    dates: npt.NDArray[np.datetime64],
    assets: tuple[str, ...],
) -> None:
    row, col = (int(i[0]) for i in np.nonzero(bad))
    count = int(bad.sum())
    raise DataError(
        f"{source}: {field} of {assets[col]} on {dates[row]} {problem} "
        f"({count} such value(s) in total); {rule}, leave a cell empty for 'no price'"
    )
