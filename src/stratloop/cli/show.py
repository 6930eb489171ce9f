"""``stratloop runs`` and ``stratloop show``: the runs of every environment, and one run.

Neither needs to be told which environment made a run: they look in the
default configuration's runs directory and every ``environments/*.yaml``'s
(see :mod:`stratloop.cli._runs`), unless ``--runs-dir``, ``--environment``
or ``--config`` names one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from rich.table import Column, Table

from stratloop.cli._app import app, command, console
from stratloop.cli._champion import print_champion, stored_config
from stratloop.cli._runs import (
    RunIdArgument,
    find_run,
    format_number,
    print_outcome_lines,
    search_dirs,
)
from stratloop.cli.report import TEARSHEET
from stratloop.cli.run import ConfigOption, EnvironmentNameOption, RunsDirOption

__all__ = ["runs", "show"]

_COUNTERS = (
    "priority_adherence",
    "silent_fallbacks",
    "explicit_fallbacks",
    "llm_share",
    "validation_errors",
    "evaluation_failures",
    "evaluation_timeouts",
    "audit_records",
    "champion_updates",
)


@command(app, "runs")
def runs(
    config: ConfigOption = None,
    environment: EnvironmentNameOption = None,
    runs_dir: RunsDirOption = None,
) -> None:
    """List runs of every environment: id, directory, status, iterations and best metric."""
    from stratloop.loop.inspect import describe_run  # noqa: PLC0415 - numpy; keep --help fast
    from stratloop.loop.rundir import list_run_ids  # noqa: PLC0415 - numpy; keep --help fast

    directories = search_dirs(config, environment, runs_dir)
    table = Table(
        "runs directory",
        Column("status", no_wrap=True),
        Column("iterations", no_wrap=True),
        "metric",
        "best",
    )
    table.add_column("run", no_wrap=True)
    for directory in directories:
        for run_id in list_run_ids(directory):
            info = describe_run(directory, run_id)
            table.add_row(
                str(directory),
                info.status,
                f"{info.iterations}/{info.total}",
                info.metric,
                format_number(info.best),
                run_id,
            )
    if not table.row_count:
        console.print(f"no runs in {', '.join(str(d) for d in directories)}")
        return
    console.print(table)


@command(app, "show")
def show(
    run_id: RunIdArgument,
    config: ConfigOption = None,
    environment: EnvironmentNameOption = None,
    runs_dir: RunsDirOption = None,
) -> None:
    """Summarise one run: status, configuration, counters, islands and champion."""
    from stratloop.loop.inspect import describe_run  # noqa: PLC0415 - numpy; keep --help fast
    from stratloop.loop.islands import island_lines  # noqa: PLC0415 - numpy; keep --help fast

    directory, run_id = find_run(run_id, search_dirs(config, environment, runs_dir))
    info = describe_run(directory, run_id)
    console.print(f"run {run_id}: {info.status}, {info.iterations}/{info.total} iterations")
    console.print(f"directory: {info.path}")
    console.print(f"seed {info.seed}, config hash {info.config_hash}")
    if info.message:
        console.print(info.message, markup=False)
    print_outcome_lines(console, info.metrics, info.iterations, info.path)
    for archive in () if info.archive is None else info.archive["archives"]:
        console.print(_archive_line(archive), markup=False)
    for key in _COUNTERS:
        if key in info.metrics:
            console.print(f"  {key}: {format_number(info.metrics[key])}")
    for line in island_lines(info.path):
        console.print(line, markup=False)
    if info.champion is None:
        console.print("no champion yet")
        return
    champion = info.champion
    console.print(f"champion: iteration {champion['iteration']}, {champion['method']}")
    console.print(json.dumps(champion["spec"], sort_keys=True), markup=False)
    print_champion(info.path, champion, stored_config(info.path))
    sheet = info.path / TEARSHEET
    console.print(
        f"tear sheet: {sheet}" if sheet.is_file() else f"tear sheet: stratloop report {run_id}"
    )


def _archive_line(archive: Mapping[str, Any]) -> str:
    """One diversity archive's fill: cells filled of the grid's, and per factor family."""
    fill = archive["fill_by_family"]
    families = ", ".join(f"{name} {fill[name]}" for name in archive["families"])
    owner = "" if archive["island"] is None else f"island {archive['island']} "
    return (
        f"{owner}archive: {archive['filled']} of {archive['capacity']} cells filled "
        f"({families}) after iteration {archive['iterations']}"
    )
