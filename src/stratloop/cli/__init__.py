"""The ``stratloop`` command line; each command group lives in its own module."""

from __future__ import annotations

from stratloop.cli import _version
from stratloop.cli._app import app

__all__ = ["app", "main"]

_GROUPS = (_version,)


def main() -> None:
    """Entry point of the ``stratloop`` console script."""
    app()
