"""The train / test split by date: the champion is chosen on train, test is reported."""

from __future__ import annotations

import numpy as np

from stratloop.config.models import BacktestConfig
from stratloop.data.panel import Panel
from stratloop.errors import BacktestError

__all__ = ["MIN_SEGMENT_DAYS", "split_index"]

MIN_SEGMENT_DAYS = 2
"""Each side of the split needs at least this many dates (one trade day, one return)."""


def split_index(panel: Panel, config: BacktestConfig) -> int:
    """The first test row: the first date >= ``split_date``, else ``floor(n * train_fraction)``.

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
            f"{rule} splits panel {panel.name!r} ({n_dates} dates, {span}) at row {index}, "
            f"leaving fewer than {MIN_SEGMENT_DAYS} dates for train or test; choose a split "
            "inside the data"
        )
    return index
