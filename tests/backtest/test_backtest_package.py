"""The public surface of stratloop.backtest."""

from __future__ import annotations

import stratloop.backtest


class TestExports:
    def test_exported_members(self):
        """__all__ is sorted and every name is defined in the package."""
        names = stratloop.backtest.__all__
        assert list(names) == sorted(names)
        for name in names:
            assert hasattr(stratloop.backtest, name)
