"""``stratloop run``, ``stratloop runs`` and ``stratloop show``: the learning loop's commands."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from stratloop.cli._app import app, console, err_console, handle_errors
from stratloop.cli._options import FlagsFileOption
from stratloop.errors import RunError
from stratloop.flags import DotenvFlagSource, EnvFlagSource

if TYPE_CHECKING:
    from stratloop.config.models import StratloopConfig
    from stratloop.flags import FlagSource
    from stratloop.loop.runner import RunSummary

__all__ = ["run", "runs", "show"]

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


def _flag_source(flags_file: Path | None) -> FlagSource:
    return EnvFlagSource() if flags_file is None else DotenvFlagSource(flags_file)


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


@app.command("run")
@handle_errors
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
        str | None, typer.Option("--resume", help="Continue this run from its last iteration.")
    ] = None,
    audit_path: Annotated[
        Path | None, typer.Option("--audit-path", help="Where the audit trail goes (audit.path).")
    ] = None,
    runs_dir: RunsDirOption = None,
    progress: Annotated[
        bool, typer.Option("--progress/--no-progress", help="Draw the progress bar.")
    ] = True,
) -> None:
    """Run the learning loop (or resume a run) and print the champion.

    With no --config and no --environment, the built-in default configuration
    runs factor-graph-only on the embedded dataset: no LLM, no network.
    """
    from stratloop.loop.progress import RichProgress  # noqa: PLC0415 - numpy; keep --help fast

    flags = _flag_source(flags_file)
    options = {
        "loop.iterations": iterations,
        "loop.seed": seed,
        "loop.workers": workers,
        "audit.path": None if audit_path is None else str(audit_path),
        "loop.runs_dir": None if runs_dir is None else str(runs_dir),
    }
    overrides = {path: value for path, value in options.items() if value is not None}
    effective = _load(config, environment, flags, overrides)
    if resume is None:
        runner = _start(effective, flags, audit_path)
    else:
        runner = _resume(effective, resume, flags, iterations, workers, seed)
    for note in runner.notes:
        err_console.print(f"[yellow]note:[/] {note}")
    err_console.print(f"run {runner.rundir.run_id} in {_shown(runner.rundir.root)}")
    sink = RichProgress(err_console, runner.config.loop.champion_metric) if progress else None
    _report(runner.run(sink))


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

    rundir, stored = open_run(Path(base.loop.runs_dir), run_id)
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


def _report(summary: RunSummary) -> None:
    """Print how the run ended, the champion with train and test metrics, and the directory."""
    console.print(
        f"run {summary.run_id}: {summary.status}, {summary.iterations}/{summary.total} "
        f"iterations. {summary.message}"
    )
    failed = _failures(summary.metrics, summary.iterations)
    if failed is not None:
        console.print(failed, style="yellow", markup=False)
    _print_models(summary.path)
    champion = summary.champion
    if champion is None:
        console.print("no champion: no candidate met the champion rule (see history.jsonl)")
    else:
        console.print(
            f"champion (iteration {champion['iteration']}, {champion['method']}, "
            f"id {champion['candidate_id']}):"
        )
        console.print(json.dumps(champion["spec"], sort_keys=True), markup=False)
        table = Table("metric", "train", "test")
        for key in sorted(set(champion["train"]) | set(champion["test"])):
            table.add_row(key, _fmt(champion["train"].get(key)), _fmt(champion["test"].get(key)))
        console.print(table)
    if summary.status == "interrupted":
        console.print(f"resume with: stratloop run --resume {summary.run_id}")
    if summary.status == "budget_exhausted":
        console.print(f"resume with a larger budget: stratloop run --resume {summary.run_id}")
    console.print(f"run directory: {_shown(summary.path)}")


def _print_models(run_path: Path) -> None:
    """Per LLM model: proposals, valid-first-try, repair and improvement rates, tokens, cost."""
    from stratloop.llm.calls import summarise_calls  # noqa: PLC0415 - keep --help fast
    from stratloop.loop.history import iter_history  # noqa: PLC0415 - numpy; keep --help fast

    history = run_path / "history.jsonl"
    if not history.is_file():
        return
    summaries = summarise_calls(
        (record.llm_calls, record.champion if record.evaluated else None)
        for record in iter_history(history)
        if record.llm_calls
    )
    for summary in summaries:
        console.print(summary.describe(), markup=False)


def _failures(metrics: Mapping[str, Any], iterations: int) -> str | None:
    """How many committed iterations produced no evaluation, and why; None when none failed."""
    by_error = metrics.get("failures_by_error") or {}
    parts = [
        (
            "generation failed",
            int(metrics.get("failures", 0)),
            ", ".join(f"{name} {count}" for name, count in sorted(by_error.items())),
        ),
        ("validation failed", int(metrics.get("validation_errors", 0)), ""),
        ("evaluation failed", int(metrics.get("evaluation_failures", 0)), ""),
        ("evaluation timed out", int(metrics.get("evaluation_timeouts", 0)), ""),
    ]
    failed = sum(count for _, count, _ in parts)
    if failed == 0:
        return None
    reasons = "; ".join(
        f"{what} {count}" + (f" ({detail})" if detail else "")
        for what, count, detail in parts
        if count
    )
    return f"{failed} of {iterations} iterations produced no evaluation: {reasons}"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return "-" if value is None else str(value)


def _runs_dir(config: Path | None, environment: str | None, runs_dir: Path | None) -> Path:
    if runs_dir is not None:
        return runs_dir
    return Path(_load(config, environment, _flag_source(None), {}).loop.runs_dir)


@app.command("runs")
@handle_errors
def runs(
    config: ConfigOption = None,
    environment: EnvironmentNameOption = None,
    runs_dir: RunsDirOption = None,
) -> None:
    """List runs: id, status, iterations and best metric."""
    from stratloop.loop.inspect import describe_run  # noqa: PLC0415 - numpy; keep --help fast
    from stratloop.loop.rundir import list_run_ids  # noqa: PLC0415 - numpy; keep --help fast

    directory = _runs_dir(config, environment, runs_dir)
    ids = list_run_ids(directory)
    if not ids:
        console.print(f"no runs in {directory}")
        return
    table = Table("run", "status", "iterations", "metric", "best")
    for run_id in ids:
        info = describe_run(directory, run_id)
        table.add_row(
            run_id, info.status, f"{info.iterations}/{info.total}", info.metric, _fmt(info.best)
        )
    console.print(table)


@app.command("show")
@handle_errors
def show(
    run_id: Annotated[str, typer.Argument(help="The run id (see `stratloop runs`).")],
    config: ConfigOption = None,
    environment: EnvironmentNameOption = None,
    runs_dir: RunsDirOption = None,
) -> None:
    """Summarise one run: status, configuration, counters and champion."""
    from stratloop.loop.inspect import describe_run  # noqa: PLC0415 - numpy; keep --help fast

    info = describe_run(_runs_dir(config, environment, runs_dir), run_id)
    console.print(f"run {run_id}: {info.status}, {info.iterations}/{info.total} iterations")
    console.print(f"directory: {info.path}")
    console.print(f"seed {info.seed}, config hash {info.config_hash}")
    if info.message:
        console.print(info.message, markup=False)
    failed = _failures(info.metrics, info.iterations)
    if failed is not None:
        console.print(failed, style="yellow", markup=False)
    _print_models(info.path)
    for key in (
        "priority_adherence",
        "silent_fallbacks",
        "explicit_fallbacks",
        "llm_share",
        "validation_errors",
        "evaluation_failures",
        "evaluation_timeouts",
        "audit_records",
        "champion_updates",
    ):
        if key in info.metrics:
            console.print(f"  {key}: {_fmt(info.metrics[key])}")
    if info.champion is None:
        console.print("no champion yet")
        return
    champion = info.champion
    console.print(f"champion: iteration {champion['iteration']}, {champion['method']}")
    console.print(json.dumps(champion["spec"], sort_keys=True), markup=False)
    console.print(f"  train {info.metric}: {_fmt(champion['train'].get(info.metric))}")
    console.print(f"  test {info.metric}: {_fmt(champion['test'].get(info.metric))}")
