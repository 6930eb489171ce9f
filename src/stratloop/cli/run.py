"""``stratloop run``, ``stratloop runs`` and ``stratloop show``: the learning loop's commands."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Column, Table

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
    _report(runner.run(sink), runner.config)


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


def _report(summary: RunSummary, config: StratloopConfig) -> None:
    """Print how the run ended, the champion's validation beside the benchmark, and the verdict."""
    console.print(
        f"run {summary.run_id}: {summary.status}, {summary.iterations}/{summary.total} "
        f"iterations. {summary.message}"
    )
    failed = _failures(summary.metrics, summary.iterations)
    if failed is not None:
        console.print(failed, style="yellow", markup=False)
    champion = summary.champion
    if champion is None:
        console.print("no champion: no candidate met the champion rule (see history.jsonl)")
    else:
        console.print(
            f"champion (iteration {champion['iteration']}, {champion['method']}, "
            f"id {champion['candidate_id']}):"
        )
        console.print(json.dumps(champion["spec"], sort_keys=True), markup=False)
        _champion(summary.path, champion, config)
    if summary.status == "interrupted":
        console.print(f"resume with: stratloop run --resume {summary.run_id}")
    if summary.status == "budget_exhausted":
        console.print(f"resume with a larger budget: stratloop run --resume {summary.run_id}")
    console.print(f"run directory: {_shown(summary.path)}")


_SHOWN_METRICS = (
    "annual_return",
    "volatility",
    "sharpe",
    "sortino",
    "max_drawdown",
    "turnover",
    "n_trades",
    "n_days",
)
_SHOWN_EXCESS = (
    "excess_return",
    "tracking_error",
    "information_ratio",
    "beta",
    "excess_sharpe",
    "excess_t_stat",
    "excess_p_value",
)


def _champion(root: Path, champion: Mapping[str, Any], config: StratloopConfig) -> None:
    """The champion's validation figures beside its benchmark's, the verdict, the holdout's state.

    No holdout figure is printed until ``stratloop holdout`` has opened it.
    """
    from stratloop.loop.history import read_history  # noqa: PLC0415 - numpy; keep --help fast
    from stratloop.loop.holdout import (  # noqa: PLC0415 - numpy; keep --help fast
        benchmark_label,
        read_holdout,
        selection_verdict,
    )
    from stratloop.loop.rundir import RunDir  # noqa: PLC0415 - numpy; keep --help fast

    validation = champion.get("validation")
    if not isinstance(validation, Mapping):
        table = Table("metric", "train")
        for key, value in sorted(champion["train"].items()):
            table.add_row(key, _fmt(value))
        console.print(table)
        console.print("chosen on train metrics under the old train/test protocol (schema 1-2)")
        return
    label = benchmark_label(config.backtest.benchmark)
    bench = validation.get("benchmark") or {}
    table = Table("validation", "champion", label)
    for key in _SHOWN_METRICS:
        table.add_row(key, _fmt(validation.get(key)), _fmt(bench.get(key)))
    for key in _SHOWN_EXCESS:
        if key in validation:
            table.add_row(key, _fmt(validation[key]), "")
    factor = validation.get("factor") or {}
    for key in ("ic", "ic_t_stat", "rank_ic", "long_short", "turnover"):
        if key in factor:
            table.add_row(f"factor {key}", _fmt(factor[key]), "")
    console.print(table)
    train = champion.get("train") or {}
    metric = config.loop.champion_metric
    console.print(
        f"train block (what the search saw): {metric} {_fmt(train.get(metric))}, "
        f"sharpe {_fmt(train.get('sharpe'))}",
        markup=False,
    )
    judged = selection_verdict(champion, read_history(root / "history.jsonl").records, config)
    if judged is not None:
        console.print(
            f"deflated Sharpe of the validation excess: {judged.deflated_sharpe:.3f} "
            f"(N = {judged.n_trials} distinct candidates, V = {judged.variance:.3g})",
            markup=False,
        )
        console.print(f"verdict (validation): {judged.verdict.text}", markup=False, soft_wrap=True)
    looks = read_holdout(RunDir(root))
    if not looks:
        console.print(
            f"holdout: sealed (every date after {validation.get('end', '?')}); open it once "
            f"with `stratloop holdout {root.name}`",
            markup=False,
        )
        return
    last = looks[-1]
    held = last["holdout"]
    console.print(
        f"holdout (look {last['look']}, opened {last['opened']}, champion iteration "
        f"{last['iteration']}): sharpe {_fmt(held.get('sharpe'))} vs {label} "
        f"{_fmt((held.get('benchmark') or {}).get('sharpe'))}, excess return "
        f"{_fmt(held.get('excess_return'))}",
        markup=False,
    )
    console.print(f"verdict (holdout): {last['verdict']['text']}", markup=False, soft_wrap=True)


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
    table = Table(Column("run", no_wrap=True), "status", "iterations", "metric", "best")
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
    _champion(info.path, champion, _stored_config(info.path))


def _stored_config(root: Path) -> StratloopConfig:
    """The configuration a run directory's ``config.json`` holds."""
    from stratloop.config.models import (  # noqa: PLC0415 - pydantic; keep --help fast
        StratloopConfig,
    )

    payload = json.loads((root / "config.json").read_text(encoding="utf-8"))
    try:
        return StratloopConfig.model_validate_json(json.dumps(payload["config"]))
    except (KeyError, ValueError) as exc:
        raise RunError(
            f"{root / 'config.json'} does not hold a valid configuration: {exc}"
        ) from exc
