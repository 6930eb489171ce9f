import stratloop.loop


class TestExports:
    def test_exported_members(self):
        """__all__ is sorted (constants first) and names only real members of the package."""
        names = stratloop.loop.__all__
        constants = [n for n in names if n.isupper()]
        others = [n for n in names if not n.isupper()]
        assert names == sorted(constants) + sorted(others)
        assert all(hasattr(stratloop.loop, name) for name in names)
        public = {n for n in vars(stratloop.loop) if not n.startswith("_")}
        modules = {n for n in public if type(getattr(stratloop.loop, n)).__name__ == "module"}
        assert public - modules == set(names)
