"""``stratloop run``: run the learning loop (or resume a run) and print the champion."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from stratloop.cli._app import app, command, console, err_console
from stratloop.cli._champion import print_champion
from stratloop.cli._options import FlagsFileOption, SetOption, parse_assignments
from stratloop.cli._runs import LATEST, find_run, print_outcome_lines
from stratloop.errors import RunError
from stratloop.flags import open_flag_source

if TYPE_CHECKING:
    from stratloop.config.models import StratloopConfig
    from stratloop.flags import FlagSource
    from stratloop.loop.runner import RunSummary

__all__ = ["ConfigOption", "EnvironmentNameOption", "RunsDirOption", "run"]

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="Configuration YAML (default: the built-in defaults)."),
]
EnvironmentNameOption = Annotated[
    str | None,
    typer.Option("--environment", "-e", help="Deployment environment: environments/NAME.yaml."),
]
RunsDirOption = Annotated[
    Path | None,
    typer.Option("--runs-dir", help="Where run directories are (overrides loop.runs_dir)."),
]


def _load(
    config: Path | None,
    environment: str | None,
    flags: FlagSource,
    overrides: Mapping[str, Any],
) -> StratloopConfig:
    """The effective configuration: file (or an environment's), env overrides, CLI options."""
    from stratloop.config import load_config  # noqa: PLC0415 - pydantic; keep --help fast
    from stratloop.environments import (  # noqa: PLC0415 - pydantic; keep --help fast
        load_environment,
    )

    active = flags.current()
    if environment is None:
        return load_config(config, flags=active, overrides=overrides)
    env = load_environment(environment)
    return load_config(
        config or env.config_path, flags=active, overrides=overrides, layers=[env.layer()]
    )


@command(app, "run")
def run(
    config: ConfigOption = None,
    environment: EnvironmentNameOption = None,
    iterations: Annotated[
        int | None, typer.Option("--iterations", "-n", help="Iterations in the run.")
    ] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="The run seed.")] = None,
    workers: Annotated[
        int | None, typer.Option("--workers", "-w", help="Evaluation processes.")
    ] = None,
    flags_file: FlagsFileOption = None,
    resume: Annotated[
        str | None,
        typer.Option(
            "--resume", help=f"Continue this run (an id, or {LATEST!r}) from its last iteration."
        ),
    ] = None,
    data: Annotated[
        str | None,
        typer.Option("--data", help="A packaged dataset name or a CSV / Parquet file."),
    ] = None,
    set_: SetOption = None,
    audit_path: Annotated[
        Path | None, typer.Option("--audit-path", help="Where the audit trail goes (audit.path).")
    ] = None,
    runs_dir: RunsDirOption = None,
    progress: Annotated[
        bool,
        typer.Option(
            "--progress/--no-progress",
            help="Show progress: a bar on a terminal, else one line per --progress-every.",
        ),
    ] = True,
    progress_every: Annotated[
        float,
        typer.Option("--progress-every", min=0.1, help="Seconds between progress lines (no TTY)."),
    ] = 30.0,
    tearsheet: Annotated[
        bool,
        typer.Option(
            "--tearsheet/--no-tearsheet", help="Write the champion's tear sheet at the end."
        ),
    ] = True,
) -> None:
    """Run the learning loop (or resume a run) and print the champion.

    With no --config and no --environment, the built-in default configuration
    runs factor-graph-only on the embedded dataset: no LLM, no network.
    """
    flags = open_flag_source(flags_file)
    options = {
        "loop.iterations": iterations,
        "loop.seed": seed,
        "loop.workers": workers,
        "audit.path": None if audit_path is None else str(audit_path),
        "loop.runs_dir": None if runs_dir is None else str(runs_dir),
        "data.source": data,
    }
    overrides = _merge(
        parse_assignments(set_),
        {path: value for path, value in options.items() if value is not None},
    )
    if resume is not None and (data is not None or set_):
        raise RunError(
            "--data and --set do not apply to --resume: a resumed run keeps the configuration "
            "it started with (start a new run to change it)"
        )
    effective = _load(config, environment, flags, overrides)
    if resume is None:
        runner = _start(effective, flags, audit_path)
    else:
        runner = _resume(effective, resume, flags, iterations, workers, seed)
    for note in runner.notes:
        err_console.print(f"[yellow]note:[/] {note}")
    err_console.print(f"run {runner.rundir.run_id} in {_shown(runner.rundir.root)}")
    sink = _progress_sink(runner.config.loop.champion_metric, progress_every) if progress else None
    summary = runner.run(sink)
    _report(summary, runner.config)
    if tearsheet and summary.champion is not None:
        from stratloop.cli.report import (  # noqa: PLC0415 - keep --help fast
            write_run_tearsheet,
        )

        _, written = write_run_tearsheet(summary.path.parent, summary.run_id)
        console.print(f"tear sheet: {_shown(written)}")


def _merge(sets: Mapping[str, Any], options: Mapping[str, Any]) -> dict[str, Any]:
    """``--set`` assignments and the named options; the same field set twice is an error."""
    for path, value in options.items():
        if path in sets and sets[path] != value:
            raise RunError(
                f"{path} is set twice: --set gives {sets[path]!r}, an option gives {value!r}; "
                "keep one"
            )
    return {**sets, **options}


def _progress_sink(metric: str, every_s: float) -> Any:
    """A rich bar on a terminal; plain progress lines in a log."""
    if err_console.is_terminal:
        from stratloop.loop.progress import RichProgress  # noqa: PLC0415 - keep --help fast

        return RichProgress(err_console, metric)
    from stratloop.cli._progress import LineProgress  # noqa: PLC0415 - keep --help fast

    return LineProgress(err_console, metric, every_s)


def _start(config: StratloopConfig, flags: FlagSource, audit_path: Path | None) -> Any:
    from stratloop.loop.assemble import parts_factory  # noqa: PLC0415 - numpy; keep --help fast
    from stratloop.loop.rundir import new_run_id  # noqa: PLC0415 - numpy; keep --help fast
    from stratloop.loop.runner import (  # noqa: PLC0415 - numpy; keep --help fast
        LoopRunner,
        absolute_paths,
    )

    config = absolute_paths(config, Path.cwd())
    if audit_path is not None:
        audit_path = Path(config.audit.path)
    run_id = new_run_id()
    make = parts_factory(config, flags=flags, run_id=run_id, audit_path=audit_path)
    return LoopRunner.create(config, make, run_id=run_id)


def _resume(
    base: StratloopConfig,
    run_id: str,
    flags: FlagSource,
    iterations: int | None,
    workers: int | None,
    seed: int | None,
) -> Any:
    from stratloop.loop.assemble import parts_factory  # noqa: PLC0415 - numpy; keep --help fast
    from stratloop.loop.runner import (  # noqa: PLC0415 - numpy; keep --help fast
        LoopRunner,
        open_run,
    )

    runs_dir, run_id = find_run(run_id, [Path(base.loop.runs_dir)])
    rundir, stored = open_run(runs_dir, run_id)
    if seed is not None and seed != stored.loop.seed:
        raise RunError(
            f"--seed {seed} differs from run {run_id}'s seed {stored.loop.seed}; a resumed run "
            "keeps its seed (start a new run for another seed)"
        )
    loop = stored.loop.model_copy(
        update={
            key: value
            for key, value in (("iterations", iterations), ("workers", workers))
            if value is not None
        }
    )
    config = stored.model_copy(update={"loop": loop})
    make = parts_factory(config, flags=flags, run_id=run_id, audit_path=Path(config.audit.path))
    return LoopRunner.resume(rundir, config, make)


def _shown(path: Path) -> Path:
    """``path`` relative to the working directory when it lies below it (shorter to read)."""
    return path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path


def _report(summary: RunSummary, config: StratloopConfig) -> None:
    """Print how the run ended, the champion's validation beside the benchmark, and the verdict."""
    console.print(
        f"run {summary.run_id}: {summary.status}, {summary.iterations}/{summary.total} "
        f"iterations. {summary.message}"
    )
    print_outcome_lines(console, summary.metrics, summary.iterations, summary.path)
    champion = summary.champion
    if champion is None:
        console.print("no champion: no candidate met the champion rule (see history.jsonl)")
    else:
        console.print(
            f"champion (iteration {champion['iteration']}, {champion['method']}, "
            f"id {champion['candidate_id']}):"
        )
        console.print(json.dumps(champion["spec"], sort_keys=True), markup=False)
        print_champion(summary.path, champion, config)
    if summary.status == "interrupted":
        console.print(f"resume with: stratloop run --resume {summary.run_id}")
    if summary.status == "budget_exhausted":
        console.print(f"resume with a larger budget: stratloop run --resume {summary.run_id}")
    console.print(f"run directory: {_shown(summary.path)}")
