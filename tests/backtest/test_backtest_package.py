"""The public surface of stratloop.backtest."""

from __future__ import annotations

from pathlib import Path

import stratloop.backtest
from stratloop.backtest import METRIC_NAMES


class TestExports:
    def test_exported_members(self):
        """__all__ is sorted and every name is defined in the package."""
        names = stratloop.backtest.__all__
        assert list(names) == sorted(names)
        for name in names:
            assert hasattr(stratloop.backtest, name)


class TestDocs:
    def test_every_metric_is_documented(self):
        """Each metric name appears in docs/backtest.md."""
        text = (Path(__file__).parents[2] / "docs" / "backtest.md").read_text()
        for name in METRIC_NAMES:
            assert f"`{name}`" in text, name
