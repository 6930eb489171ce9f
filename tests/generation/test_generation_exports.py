from __future__ import annotations

import inspect

from stratloop import generation


class TestExportedMembers:
    def test_all_is_sorted_unique_and_resolvable(self):
        """__all__ is sorted, has no duplicates, and every name resolves."""
        assert generation.__all__ == sorted(set(generation.__all__))
        for name in generation.__all__:
            assert getattr(generation, name) is not None, name

    def test_public_classes_live_in_the_package(self):
        """Exported classes and functions are defined inside stratloop.generation."""
        for name in generation.__all__:
            member = getattr(generation, name)
            if inspect.isclass(member) or inspect.isfunction(member):
                assert member.__module__.startswith("stratloop.generation"), name
