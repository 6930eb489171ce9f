"""The ``stratloop`` command line; each command group lives in its own module.

Commands other packages contribute (the deployment guide's checks and drills)
are added through the ``stratloop.cli`` entry points, see :mod:`stratloop.cli._plugins`.
"""

from __future__ import annotations

from collections.abc import Sequence

from stratloop.cli import (
    _version,
    audit,
    backtest,
    config,
    flags,
    run,
    serve,
    shadow,
)
from stratloop.cli._app import app
from stratloop.cli._plugins import register_commands

__all__ = ["app", "main"]

_GROUPS = (
    _version,
    audit,
    backtest,
    config,
    flags,
    run,
    serve,
    shadow,
)
register_commands(app)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the CLI on ``argv`` (default: the process arguments); exits the process."""
    app(args=None if argv is None else list(argv), prog_name="stratloop")
