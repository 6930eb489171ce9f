"""Reusable CLI options shared by every command group."""

from __future__ import annotations

from typing import Annotated

import typer

__all__ = ["EnvironmentOption"]

EnvironmentOption = Annotated[
    str,
    typer.Option(
        "--environment",
        "-e",
        help="Deployment environment: environments/NAME.yaml (local, staging, production, ...).",
    ),
]
"""``--environment NAME`` (default ``local`` when the parameter defaults to it)."""
