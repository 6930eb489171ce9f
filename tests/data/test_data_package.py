"""The public surface of stratloop.data."""

from __future__ import annotations

import stratloop.data


class TestExports:
    def test_exported_members(self):
        """__all__ is sorted and every name is defined in the package."""
        names = stratloop.data.__all__
        assert list(names) == sorted(names)
        for name in names:
            assert hasattr(stratloop.data, name)
