"""Reusable CLI options shared by every command group."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

__all__ = ["EnvironmentOption", "FlagsFileOption"]

EnvironmentOption = Annotated[
    str,
    typer.Option(
        "--environment",
        "-e",
        help="Deployment environment: environments/NAME.yaml (local, staging, production, ...).",
    ),
]
"""``--environment NAME`` (default ``local`` when the parameter defaults to it)."""

FlagsFileOption = Annotated[
    Path | None,
    typer.Option(
        "--flags-file",
        help="Feature flags file naming every flag: NAME=value lines (.env) or flagd JSON "
        "(.json); re-read at every iteration.",
    ),
]
"""``--flags-file PATH`` for the commands that run the loop."""
