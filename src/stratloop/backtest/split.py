"""The protocol's rows: a selection region cut into walk-forward folds, then a sealed holdout.

The holdout starts at ``backtest.split_date`` (the first date on or after
it), else at row ``floor(n * backtest.train_fraction)``; everything before it
is the selection region. The loop evaluates candidates on the selection
region only; the holdout is opened by ``stratloop holdout``.

The selection region, from the first row where the signal has a value
(``start``) to the holdout (``stop``), is cut into ``K + 1`` contiguous
blocks of equal length (``K = backtest.folds``; block ``j`` starts at
``start + floor(j * (stop - start) / (K + 1))``). Block 0 is the *train*
block: its metrics are what the search (the generators' feedback) sees. Fold
``k`` (1..K) validates on block ``k`` without its first ``purge`` rows; its
train window is every block before it (``expanding``) or block ``k - 1``
alone (``rolling``). The purge defaults to the expression's lookback, so no
signal value in a validation window reads a price of its train window.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from stratloop.config.models import BacktestConfig
from stratloop.data.panel import Panel
from stratloop.errors import BacktestError

__all__ = ["MIN_SEGMENT_DAYS", "Fold", "Layout", "fold_layout", "split_index"]

MIN_SEGMENT_DAYS = 2
"""Each segment needs at least this many dates (one trade day, one return)."""

Rows = tuple[int, int]
"""A half-open row range ``[start, stop)``."""


@dataclass(frozen=True, slots=True)
class Fold:
    """One walk-forward fold: its train window and its validation window (row ranges)."""

    number: int
    train: Rows
    validation: Rows


@dataclass(frozen=True, slots=True)
class Layout:
    """Where each segment of the protocol lies on a panel.

    Args:
        train: the train block, ``[start, first block end)``.
        folds: the validation folds, oldest first.
        holdout: the sealed holdout, ``[split, n)``.
        purge: rows dropped at the start of each validation window.
    """

    train: Rows
    folds: tuple[Fold, ...]
    holdout: Rows
    purge: int


def split_index(panel: Panel, config: BacktestConfig) -> int:
    """The first holdout row: the first date >= ``split_date``, else ``floor(n * train_fraction)``.

    Args:
        panel: the price panel.
        config: the backtest configuration.

    Raises:
        BacktestError: either side would have fewer than ``MIN_SEGMENT_DAYS`` dates.
    """
    n_dates = len(panel.dates)
    if config.split_date is not None:
        index = int(np.searchsorted(panel.dates, np.datetime64(config.split_date, "D")))
        rule = f"backtest.split_date {config.split_date}"
    else:
        index = int(n_dates * config.train_fraction)
        rule = f"backtest.train_fraction {config.train_fraction}"
    if not MIN_SEGMENT_DAYS <= index <= n_dates - MIN_SEGMENT_DAYS:
        span = f"{panel.dates[0]} to {panel.dates[-1]}" if n_dates else "no dates"
        raise BacktestError(
            f"{rule} puts the holdout of panel {panel.name!r} ({n_dates} dates, {span}) at row "
            f"{index}, leaving fewer than {MIN_SEGMENT_DAYS} dates for selection or the holdout; "
            "choose a split inside the data"
        )
    return index


def fold_layout(
    start: int, split: int, n_dates: int, config: BacktestConfig, lookback: int
) -> Layout:
    """The train block, the validation folds and the holdout (rules in the module docstring).

    Args:
        start: first row where the signal has a value for a priced asset.
        split: first holdout row (:func:`split_index`).
        n_dates: rows of the panel.
        config: ``folds``, ``fold_scheme`` and ``purge_days``.
        lookback: the expression's lookback, the default purge.

    Raises:
        BacktestError: a block or a purged validation window would have fewer
            than ``MIN_SEGMENT_DAYS`` dates (the message names the fields to change).
    """
    n_folds = config.folds
    purge = lookback if config.purge_days is None else config.purge_days
    length = split - start
    bounds = [start + (j * length) // (n_folds + 1) for j in range(n_folds + 2)]
    shortest = min(b - a for a, b in itertools.pairwise(bounds))
    if shortest - purge < MIN_SEGMENT_DAYS:
        source = "backtest.purge_days" if config.purge_days is not None else "its lookback"
        raise BacktestError(
            f"the selection region has {length} dates after the signal's warm-up; cut into "
            f"backtest.folds + 1 = {n_folds + 1} blocks of {shortest}+ dates with a purge of "
            f"{purge} ({source}), a validation window would keep fewer than {MIN_SEGMENT_DAYS} "
            "dates; use fewer folds, shorter windows, or more data before the holdout"
        )
    folds = tuple(
        Fold(
            number=k,
            train=(bounds[0] if config.fold_scheme == "expanding" else bounds[k - 1], bounds[k]),
            validation=(bounds[k] + purge, bounds[k + 1]),
        )
        for k in range(1, n_folds + 1)
    )
    return Layout(train=(bounds[0], bounds[1]), folds=folds, holdout=(split, n_dates), purge=purge)
