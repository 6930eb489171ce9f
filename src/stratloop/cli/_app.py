"""The root typer app and the one place CLI errors become exit codes.

Exit codes: 0 success, 1 the input was read but is invalid (bad config, bad
flags, violations found), 2 the input could not be used at all (unreadable
file, unknown environment, usage error). No error is ever shown as a traceback.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NoReturn, ParamSpec, TypeVar

import typer
from rich.console import Console

from stratloop.errors import (
    ConfigFileError,
    EnvironmentNotFoundError,
    StratloopError,
)

__all__ = [
    "EXIT_INVALID",
    "EXIT_UNUSABLE",
    "app",
    "command",
    "console",
    "err_console",
    "fail",
    "group",
    "handle_errors",
]

EXIT_INVALID = 1
EXIT_UNUSABLE = 2

app = typer.Typer(
    name="stratloop",
    help="Discover trading strategies with an honest, auditable learning loop.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

P = ParamSpec("P")
R = TypeVar("R")

_UNUSABLE: tuple[type[StratloopError], ...] = (ConfigFileError, EnvironmentNotFoundError)


def fail(message: str, code: int = EXIT_INVALID) -> NoReturn:
    """Print ``message`` to stderr and exit with ``code``."""
    err_console.print(f"[bold red]error:[/] {message}", markup=True, soft_wrap=True)
    raise typer.Exit(code)


def handle_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn stratloop errors raised by a command into a message and an exit code."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except _UNUSABLE as exc:
            fail(_escape(str(exc)), EXIT_UNUSABLE)
        except StratloopError as exc:
            fail(_escape(str(exc)), EXIT_INVALID)

    return wrapper


def command(
    parent: typer.Typer, name: str | None = None, *, summary: str | None = None
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Register the decorated function as ``parent``'s command ``name``, errors handled.

    The one way commands are registered, so that none can skip :func:`handle_errors`.
    ``summary`` is the help line when it is not the docstring's first line.
    """

    def register(func: Callable[P, R]) -> Callable[P, R]:
        handled = handle_errors(func)
        parent.command(name, help=summary)(handled)
        return handled

    return register


def group(name: str, summary: str) -> typer.Typer:
    """A command group (``stratloop NAME ...``) that prints its help when called bare."""
    return typer.Typer(name=name, help=summary, no_args_is_help=True)


def _escape(text: str) -> str:
    return text.replace("[", r"\[")
