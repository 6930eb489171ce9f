"""``stratloop report RUN_ID``: the champion's tear sheet as one self-contained HTML file."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from stratloop.cli._app import app, command, console
from stratloop.cli._champion import print_champion, stored_config
from stratloop.cli._runs import LATEST, RunIdArgument, find_run, search_dirs

if TYPE_CHECKING:
    from stratloop.report import TearSheet

__all__ = ["report", "tearsheet_path", "write_run_tearsheet"]

TEARSHEET = "tearsheet.html"
"""The tear sheet's file name inside the run directory."""


def tearsheet_path(runs_dir: Path, run_id: str) -> Path:
    """Where a run's tear sheet goes by default: inside its run directory."""
    return runs_dir / run_id / TEARSHEET


def write_run_tearsheet(
    runs_dir: Path, run_id: str, output: Path | None = None
) -> tuple[TearSheet, Path]:
    """Backtest the run's champion again and write its tear sheet; the sheet and the file."""
    from stratloop.report.tearsheet import (  # noqa: PLC0415 - numpy; keep --help fast
        write_tearsheet,
    )
    from stratloop.service.runs import RunReader  # noqa: PLC0415 - numpy; keep --help fast

    sheet = RunReader(runs_dir).tearsheet(run_id)
    return sheet, write_tearsheet(sheet, output or tearsheet_path(runs_dir, run_id))


@command(app, "report")
def report(
    run_id: RunIdArgument = LATEST,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Where to write (default: RUN_DIR/tearsheet.html)."),
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="Configuration naming loop.runs_dir.")
    ] = None,
    environment: Annotated[
        str | None, typer.Option("--environment", "-e", help="Look only in this environment.")
    ] = None,
    runs_dir: Annotated[
        Path | None, typer.Option("--runs-dir", help="Look only in this runs directory.")
    ] = None,
) -> None:
    """Write the champion's tear sheet: returns vs equal weight, drawdown, IC, verdicts.

    The run is found in any environment's runs directory unless one is named.
    """
    directory, found = find_run(run_id, search_dirs(config, environment, runs_dir))
    sheet, path = write_run_tearsheet(directory, found, output)
    root = directory / found
    print_champion(root, sheet.champion, stored_config(root), sheet.selection)
    console.print(f"tear sheet: {path}")
