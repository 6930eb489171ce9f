"""Every command the deployment guide names exists here with the options it uses.

The guide (docs/deployment-guide-phase2-4.md) is the acceptance spec: each
``python scripts/…`` line must run as written, so each script must exist, be a
thin wrapper over a ``stratloop`` subcommand, and that subcommand must accept
every option the guide passes. Each ``pytest tests/…`` path must exist.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stratloop.acceptance.guide import guide_steps
from stratloop.cli import app

ROOT = Path(__file__).resolve().parent.parent
GUIDE = (ROOT / "docs" / "deployment-guide-phase2-4.md").read_text(encoding="utf-8")


def _guide_commands(prefix: str) -> list[str]:
    """The guide's commands starting with ``prefix``, as the guide run reads them."""
    return [
        step.text
        for step in guide_steps(GUIDE)
        if step.kind == "command" and step.text.startswith(prefix)
    ]


SCRIPT_COMMANDS = _guide_commands("python scripts/")
PYTEST_COMMANDS = _guide_commands("pytest ")


def _wrapped_argv(script: Path) -> list[str]:
    """The fixed argv prefix a thin wrapper passes to ``stratloop.cli.main``."""
    tree = ast.parse(script.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "main":
            (arg,) = node.args
            assert isinstance(arg, ast.List)
            return [elt.value for elt in arg.elts if isinstance(elt, ast.Constant)]
    pytest.fail(f"{script} does not call stratloop.cli.main")


class TestGuideCommands:
    def test_the_guide_names_the_commands_we_expect(self):
        """The extraction finds the guide's script and pytest commands (it cannot pass empty)."""
        assert len(SCRIPT_COMMANDS) >= 29
        assert len(PYTEST_COMMANDS) >= 5

    @pytest.mark.parametrize("command", SCRIPT_COMMANDS)
    def test_script_exists_and_accepts_the_guides_options(self, command):
        """The script is a thin wrapper whose subcommand accepts every option the guide uses."""
        words = command.split()
        script = ROOT / words[1]
        assert script.is_file(), f"{words[1]} is missing"
        argv = _wrapped_argv(script)
        result = CliRunner().invoke(app, [*argv, "--help"], terminal_width=200)
        assert result.exit_code == 0, result.output
        help_text = re.sub(r"\s+", " ", result.output)
        for option in (w for w in words[2:] if w.startswith("--")):
            assert option in help_text, f"{words[1]} does not accept {option}"

    @pytest.mark.parametrize("command", PYTEST_COMMANDS)
    def test_pytest_targets_exist(self, command):
        """Every test file or folder the guide runs exists."""
        target = command.split()[1]
        assert (ROOT / target).exists(), target
