"""``stratloop repair RUN_ID``: make a damaged run resumable, keeping every valid iteration."""

from __future__ import annotations

from stratloop.cli._app import app, command, console
from stratloop.cli._runs import RunIdArgument, find_run, search_dirs
from stratloop.cli.run import ConfigOption, EnvironmentNameOption, RunsDirOption

__all__ = ["repair"]


@command(app, "repair")
def repair(
    run_id: RunIdArgument,
    config: ConfigOption = None,
    environment: EnvironmentNameOption = None,
    runs_dir: RunsDirOption = None,
) -> None:
    """Repair a run's history: keep every valid committed iteration, report what is dropped.

    Refuses while another process runs the run. The damaged history is kept
    beside the repaired one; the repair is recorded in a JSON file next to it.
    """
    from stratloop.loop.repair import (  # noqa: PLC0415 - numpy; keep --help fast
        describe,
        repair_run,
    )

    directory, run_id = find_run(run_id, search_dirs(config, environment, runs_dir))
    result = repair_run(directory, run_id)
    for line in describe(result):
        console.print(line, markup=False, soft_wrap=True)
