"""The ``stratloop`` command line; each command group lives in its own module.

Commands other packages contribute (the deployment guide's checks and drills)
are added through the ``stratloop.cli`` entry points (see
:mod:`stratloop.cli._plugins`) the first time :data:`app` is used, not when
this package is imported: those commands import this package themselves.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import typer

# Importing a command module registers its commands on the root app (hence the noqa).
from stratloop.cli import (  # noqa: F401
    _app,
    _plugins,
    _version,
    audit,
    backtest,
    config,
    data,
    flags,
    holdout,
    library,
    llm_report,
    repair,
    report,
    run,
    serve,
    show,
)

__all__ = ["app", "main"]


@functools.cache
def _plugged_app() -> typer.Typer:
    """The root app with every entry point's commands added (once)."""
    _plugins.register_commands(_app.app)
    return _app.app


def __getattr__(name: str) -> typer.Typer:
    """``app``: the root typer app, complete with the entry points' commands."""
    if name == "app":
        return _plugged_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main(argv: Sequence[str] | None = None) -> None:
    """Run the CLI on ``argv`` (default: the process arguments); exits the process."""
    _plugged_app()(args=None if argv is None else list(argv), prog_name="stratloop")
