from __future__ import annotations

import inspect

from stratloop import shadow


class TestExportedMembers:
    def test_all_is_unique_and_resolvable(self):
        """__all__ has no duplicates (ruff RUF022 keeps it sorted), and every name resolves."""
        assert len(shadow.__all__) == len(set(shadow.__all__))
        for name in shadow.__all__:
            assert getattr(shadow, name) is not None, name

    def test_public_classes_live_in_the_package(self):
        """Exported classes and functions are defined inside stratloop.shadow."""
        for name in shadow.__all__:
            member = getattr(shadow, name)
            if inspect.isclass(member) or inspect.isfunction(member):
                assert member.__module__.startswith("stratloop.shadow"), name
