import subprocess
import sys

import pytest

import stratloop.llm


class TestPackage:
    def test_unknown_name(self) -> None:
        """An unknown attribute is an AttributeError, as for any module."""
        with pytest.raises(AttributeError, match="no_such_thing"):
            _ = stratloop.llm.no_such_thing

    def test_budget_does_not_load_openai(self) -> None:
        """Importing the budget (as the loop does) does not import openai."""
        code = "import sys, stratloop.llm.budget; print('openai' in sys.modules)"
        result = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
        )
        assert result.stdout.strip() == "False"
