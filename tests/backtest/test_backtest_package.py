"""The public surface of stratloop.backtest."""

from __future__ import annotations

from pathlib import Path

from stratloop.backtest import METRIC_NAMES


class TestDocs:
    def test_every_metric_is_documented(self):
        """Each metric name appears in docs/backtest.md."""
        text = (Path(__file__).parents[2] / "docs" / "backtest.md").read_text()
        for name in METRIC_NAMES:
            assert f"`{name}`" in text, name
