"""Registering commands: every command's stratloop errors become a message and an exit code."""

from __future__ import annotations

import typer
from typer.testing import CliRunner

from stratloop.cli._app import EXIT_INVALID, EXIT_UNUSABLE, command, group
from stratloop.errors import ConfigFileError, SpecError

runner = CliRunner()


def _app() -> typer.Typer:
    root = typer.Typer()
    sub = group("sub", "A group for the test.")
    root.add_typer(sub)

    @command(sub, "invalid")
    def invalid() -> None:
        """Raise an error about the input's content."""
        raise SpecError("top_n must be at least 1 but got 0")

    @command(sub, "unusable", summary="Raise an error about an unreadable input.")
    def unusable() -> None:
        raise ConfigFileError("run.yaml", "no such file", "pass an existing file")

    return root


class TestCommand:
    def test_a_stratloop_error_is_a_message_and_exit_one(self) -> None:
        """No traceback: the error's text on stderr and the 'invalid' exit code."""
        result = runner.invoke(_app(), ["sub", "invalid"])
        assert result.exit_code == EXIT_INVALID
        assert "top_n must be at least 1 but got 0" in result.output
        assert "Traceback" not in result.output

    def test_an_unusable_input_exits_two(self) -> None:
        """A configuration file that cannot be read is the 'unusable' exit code."""
        result = runner.invoke(_app(), ["sub", "unusable"])
        assert result.exit_code == EXIT_UNUSABLE
        assert "cannot use configuration file run.yaml" in result.output

    def test_summary_is_the_help_line(self) -> None:
        """``summary`` stands in for a docstring in the group's help."""
        result = runner.invoke(_app(), ["sub", "--help"])
        assert "Raise an error about an unreadable input." in result.output
        assert "Raise an error about the input's content." in result.output


class TestGroup:
    def test_a_bare_group_prints_its_help(self) -> None:
        """Called without a command, a group lists its commands instead of failing silently."""
        result = runner.invoke(_app(), ["sub"])
        assert "A group for the test." in result.output
        assert "invalid" in result.output
