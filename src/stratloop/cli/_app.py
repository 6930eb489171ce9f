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
    "console",
    "err_console",
    "fail",
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


def _escape(text: str) -> str:
    return text.replace("[", r"\[")
