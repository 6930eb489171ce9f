"""The ``stratloop`` command line; each command group lives in its own module."""

from __future__ import annotations

from collections.abc import Sequence

from stratloop.cli import (
    _version,
    audit,
    backtest,
    check,
    check_phase3,
    config,
    flags,
    health,
    run,
    serve,
    shadow,
)
from stratloop.cli._app import app

__all__ = ["app", "main"]

_GROUPS = (
    _version,
    audit,
    backtest,
    check,
    check_phase3,
    config,
    flags,
    health,
    run,
    serve,
    shadow,
)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the CLI on ``argv`` (default: the process arguments); exits the process."""
    app(args=None if argv is None else list(argv), prog_name="stratloop")
