"""Train / test split by date or fraction."""

from __future__ import annotations

import datetime as dt

import pytest

from stratloop.backtest import split_index
from stratloop.config.models import BacktestConfig
from stratloop.data import synthetic_panel
from stratloop.errors import BacktestError

PANEL = synthetic_panel(3, 100, seed=0)


class TestSplitIndex:
    def test_fraction(self):
        """Default 0.7 of 100 dates: test starts at row 70."""
        assert split_index(PANEL, BacktestConfig()) == 70

    def test_date(self):
        """A split date selects the first date on or after it."""
        day = PANEL.dates[40].item()
        assert split_index(PANEL, BacktestConfig(split_date=day)) == 40
        weekend = dt.date(2000, 1, 8)
        assert str(PANEL.dates[split_index(PANEL, BacktestConfig(split_date=weekend))]) == (
            "2000-01-10"
        )

    @pytest.mark.parametrize("day", [dt.date(1999, 1, 1), dt.date(2030, 1, 1)])
    def test_outside(self, day):
        """A split date outside the data is an error naming it and the data's span."""
        with pytest.raises(BacktestError, match=rf"split_date {day}.*2000-01-03 to"):
            split_index(PANEL, BacktestConfig(split_date=day))

    def test_tiny_panel(self):
        """A fraction that leaves one side under two dates is an error."""
        with pytest.raises(BacktestError, match=r"train_fraction 0\.01"):
            split_index(PANEL, BacktestConfig(train_fraction=0.01))
