"""Finding a run from the command line: in one runs directory, or in every environment's.

``stratloop show``, ``runs``, ``report`` and ``run --resume`` accept a run id
(or ``latest``) without being told which environment made it: the runs
directory of the default configuration and of every ``environments/*.yaml``
are searched, and an id found in more than one is an error that names them.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from stratloop.errors import RunError

if TYPE_CHECKING:
    from rich.console import Console

__all__ = [
    "EXCESS_ROWS",
    "LATEST",
    "RunIdArgument",
    "failures_line",
    "find_run",
    "format_number",
    "model_lines",
    "search_dirs",
    "trials_line",
]

LATEST = "latest"
"""The run id that names the newest run."""

RunIdArgument = Annotated[
    str, typer.Argument(help=f"The run id (see `stratloop runs`), or {LATEST!r}.")
]
"""The run a command reads, by id or ``latest``."""

EXCESS_ROWS = (
    "excess_return",
    "tracking_error",
    "information_ratio",
    "beta",
    "excess_sharpe",
    "excess_t_stat",
    "excess_p_value",
)
"""The figures against the benchmark that the command line shows, in order."""


def search_dirs(config: Path | None, environment: str | None, runs_dir: Path | None) -> list[Path]:
    """The runs directories to look in: the one asked for, else every known one."""
    from stratloop.config import load_config  # noqa: PLC0415 - pydantic; keep --help fast
    from stratloop.environments import (  # noqa: PLC0415 - pydantic; keep --help fast
        known_environments,
        load_environment,
    )

    if runs_dir is not None:
        return [runs_dir]
    if environment is not None:
        return [load_environment(environment).runs_dir]
    found = [Path(load_config(config).loop.runs_dir)]
    if config is None:
        found.extend(load_environment(name).runs_dir for name in known_environments())
    unique: list[Path] = []
    for path in found:
        if path.resolve() not in {p.resolve() for p in unique}:
            unique.append(path)
    return unique


def find_run(run_id: str, directories: list[Path]) -> tuple[Path, str]:
    """The runs directory holding ``run_id`` (``latest``: the newest run of all) and the id.

    Raises:
        RunError: no such run, or the id is in more than one directory.
    """
    from stratloop.loop.rundir import list_run_ids  # noqa: PLC0415 - keep --help fast

    listed = {directory: list_run_ids(directory) for directory in directories}
    searched = ", ".join(str(d) for d in directories)
    if run_id == LATEST:
        newest = [(ids[-1], directory) for directory, ids in listed.items() if ids]
        if not newest:
            raise RunError(f"no runs in {searched}; start one with `stratloop run`")
        latest, directory = max(newest)
        return directory, latest
    holding = [directory for directory, ids in listed.items() if run_id in ids]
    if not holding:
        raise RunError(
            f"no run {run_id!r} in {searched}; `stratloop runs` lists the runs "
            "(pass --runs-dir for a directory elsewhere)"
        )
    if len(holding) > 1:
        raise RunError(
            f"run {run_id!r} is in {len(holding)} runs directories "
            f"({', '.join(map(str, holding))}); choose one with --runs-dir or --environment"
        )
    return holding[0], run_id


def failures_line(metrics: Mapping[str, Any], iterations: int) -> str | None:
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


def print_outcome_lines(
    console: Console, metrics: Mapping[str, Any], iterations: int, run_path: Path
) -> None:
    """Print a run's failures (when any), its trials and one line per LLM model."""
    failed = failures_line(metrics, iterations)
    if failed is not None:
        console.print(failed, style="yellow", markup=False)
    console.print(trials_line(metrics), markup=False)
    for line in model_lines(run_path):
        console.print(line, markup=False)


def trials_line(metrics: Mapping[str, Any]) -> str:
    """Distinct trials sent to evaluation, and the repeats and near-duplicates among them."""
    return (
        f"{int(metrics.get('distinct_trials', 0))} distinct candidates sent to evaluation, "
        f"{int(metrics.get('redundant', 0))} of them redundant (signal correlation above "
        "search.max_signal_correlation, or with a library factor above library.max_correlation: "
        "never selectable, so not in the verdict's N, which counts the candidates with "
        f"validation figures); {int(metrics.get('repeats_rejected', 0))} repeats of tried "
        f"candidates rejected (never evaluated), {int(metrics.get('exhausted', 0))} iterations "
        "exhausted (search.repeat_attempts)"
    )


def format_number(value: Any) -> str:
    """A metric for a table: floats to 4 decimals, None as '-'."""
    if isinstance(value, float):
        return f"{value:.4f}"
    return "-" if value is None else str(value)


def model_lines(run_path: Path) -> list[str]:
    """One line per LLM model of the run in ``run_path``: proposals, rates, tokens, cost."""
    from stratloop.llm.calls import summarise_calls  # noqa: PLC0415 - keep --help fast
    from stratloop.loop.history import iter_history  # noqa: PLC0415 - numpy; keep --help fast

    history = run_path / "history.jsonl"
    if not history.is_file():
        return []
    summaries = summarise_calls(
        (record.llm_calls, record.champion if record.evaluated else None)
        for record in iter_history(history)
        if record.llm_calls
    )
    return [summary.describe() for summary in summaries]
