"""Reusable CLI options shared by every command group."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from stratloop.cli._app import EXIT_UNUSABLE, fail

__all__ = ["EnvironmentOption", "FlagsFileOption", "SetOption", "parse_assignments"]

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

SetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--set", help="Override a field: section.field=value (a YAML scalar); repeatable."
    ),
]
"""``--set section.field=value``, repeatable."""


def parse_assignments(assignments: list[str] | None) -> dict[str, object]:
    """``--set`` texts as ``{field path: value}``; a malformed one exits with a usage error."""
    from stratloop.config import parse_assignment  # noqa: PLC0415 - pydantic; keep --help fast

    result: dict[str, object] = {}
    for text in assignments or []:
        try:
            path, value = parse_assignment(text)
        except ValueError as exc:
            fail(str(exc), EXIT_UNUSABLE)
        result[path] = value
    return result
