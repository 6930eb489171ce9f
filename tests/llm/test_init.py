import inspect
import subprocess
import sys

import pytest

import stratloop.llm


class TestExportedMembers:
    def test_all_is_sorted_and_complete(self) -> None:
        """__all__ is sorted, every name resolves, classes and functions are our own."""
        names = stratloop.llm.__all__
        assert list(names) == sorted(names)
        for name in names:
            member = getattr(stratloop.llm, name)
            if inspect.isclass(member) or inspect.isfunction(member):
                assert member.__module__.startswith("stratloop.llm"), name

    def test_unknown_name(self) -> None:
        """An unknown attribute is an AttributeError, as for any module."""
        with pytest.raises(AttributeError, match="no_such_thing"):
            _ = stratloop.llm.no_such_thing

    def test_budget_does_not_load_openai(self) -> None:
        """Importing the budget (as the loop does) does not import openai."""
        code = "import sys, stratloop.llm.budget; print('openai' in sys.modules)"
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                check=True, timeout=60)
        assert result.stdout.strip() == "False"
