"""``stratloop version``."""

from __future__ import annotations

from stratloop import __version__
from stratloop.cli._app import app, console


@app.command()
def version() -> None:
    """Print the installed stratloop version."""
    console.print(__version__)
