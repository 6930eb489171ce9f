"""``stratloop report RUN_ID``: the champion's tear sheet as one self-contained HTML file."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from stratloop.cli._app import app, console, handle_errors
from stratloop.cli._runs import LATEST, RunIdArgument, find_run, search_dirs

if TYPE_CHECKING:
    from stratloop.report import TearSheet

__all__ = ["champion_table", "report", "tearsheet_path", "write_run_tearsheet"]

_SHOWN = (
    ("annual_return", True),
    ("volatility", True),
    ("sharpe", False),
    ("sortino", False),
    ("max_drawdown", True),
    ("calmar", False),
    ("turnover", False),
    ("deflated_sharpe", False),
)
"""The metrics of the champion table, and whether each reads as a percentage."""

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


def _cell(value: float | None, percent: bool) -> str:
    if value is None:
        return "-"
    return f"{value * 100:.2f}%" if percent else f"{value:.3f}"


def champion_table(sheet: TearSheet) -> Table:
    """The champion beside equal weight on each segment, with dates, dataset and verdict."""
    from stratloop.report import segment_verdict  # noqa: PLC0415 - numpy; keep --help fast

    series = sheet.series
    spans = ", ".join(f"{seg.name} {seg.start} to {seg.end}" for seg in series.segments)
    holdout = "sealed" if series.holdout is None else "opened"
    table = Table(
        title=f"champion vs equal weight (EW) on {series.dataset}: {spans}; holdout {holdout}",
        caption="\n".join(f"{seg.name}: {segment_verdict(seg).text}" for seg in series.segments),
    )
    table.add_column("metric", no_wrap=True)
    for seg in series.segments:
        table.add_column(seg.name, justify="right")
        table.add_column(f"{seg.name} EW", justify="right")
    for name, percent in _SHOWN:
        row = [name]
        for seg in series.segments:
            row.append(_cell(seg.strategy.as_dict().get(name), percent))
            row.append(_cell(seg.benchmark.as_dict().get(name), percent))
        table.add_row(*row)
    return table


@app.command("report")
@handle_errors
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
    console.print(champion_table(sheet))
    console.print(f"tear sheet: {path}")
