"""``stratloop flags``: the effective feature flags as a table or JSON.

Exit 1 with the message on a bad value or a forbidden combination.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from stratloop.cli._app import app, command, console
from stratloop.flags import FLAG_VARIABLES, open_flag_source

__all__ = ["flags"]


@command(app, "flags")
def flags(
    as_json: Annotated[bool, typer.Option("--json", help="Print the flags as JSON.")] = False,
    flags_file: Annotated[
        Path | None,
        typer.Option(
            "--flags-file", help="Read flags from this dotenv file (or flagd .json file)."
        ),
    ] = None,
) -> None:
    """Show the feature flags and the effective phase."""
    source = open_flag_source(flags_file)
    current = source.current()
    close = getattr(source, "close", None)
    if close is not None:
        close()
    data = current.as_dict()
    if as_json:
        typer.echo(json.dumps(data, indent=2, sort_keys=True))
        return

    table = Table(title=f"feature flags (from {current.source})")
    table.add_column("variable")
    table.add_column("value")
    table.add_column("effective")
    effective = {
        FLAG_VARIABLES[0]: current.master,
        FLAG_VARIABLES[1]: current.enforcement,
        FLAG_VARIABLES[2]: current.pydantic_validation,
        FLAG_VARIABLES[3]: current.strategy_pattern,
        FLAG_VARIABLES[4]: current.audit_trail,
    }
    rollouts = {r.variable: r for r in current.rollouts}
    for variable, raw in current.raw().items():
        value = str(raw).lower()
        if variable in rollouts:
            r = rollouts[variable]
            value += f" ({r.percent:g}% rollout, {'in' if r.included else 'out'})"
        table.add_row(variable, value, "on" if effective[variable] else "off")
    console.print(table)
    console.print(f"effective phase: {current.effective_phase}")
