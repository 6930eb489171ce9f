"""``stratloop llm-report RUN_ID``: how each model of a run did, call by call, summarised."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from stratloop.cli._app import app, command, console
from stratloop.cli._runs import RunIdArgument, find_run, search_dirs
from stratloop.cli.run import ConfigOption, EnvironmentNameOption, RunsDirOption

if TYPE_CHECKING:
    from stratloop.llm.calls import ModelSummary

__all__ = ["llm_report"]

_TOP_REJECTIONS = 3


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}s"


def _as_json(summary: ModelSummary) -> dict[str, Any]:
    return {
        "model": summary.model,
        "proposals": summary.proposals,
        "valid_first_try_rate": summary.valid_first_try_rate,
        "repair_rate": summary.repair_rate,
        "acceptance_rate": summary.acceptance_rate,
        "improvement_rate": summary.improvement_rate,
        "calls": summary.calls,
        "tokens": summary.tokens,
        "cost": summary.cost,
        "latency_p50_s": summary.latency_percentile(50),
        "latency_p90_s": summary.latency_percentile(90),
        "latency_p99_s": summary.latency_percentile(99),
        "finish_reasons": dict(summary.finish_reasons),
        "top_rejections": dict(list(summary.rejections.items())[:_TOP_REJECTIONS]),
    }


@command(app, "llm-report")
def llm_report(
    run_id: RunIdArgument,
    config: ConfigOption = None,
    environment: EnvironmentNameOption = None,
    runs_dir: RunsDirOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = (
        False
    ),
) -> None:
    """Per model: valid-first-try and repair rates, latency, tokens, cost, finish reasons."""
    from stratloop.llm.calls import CallTally  # noqa: PLC0415 - keep --help fast
    from stratloop.loop.history import iter_history  # noqa: PLC0415 - numpy; keep --help fast
    from stratloop.loop.rundir import RunDir  # noqa: PLC0415 - numpy; keep --help fast

    directory, run_id = find_run(run_id, search_dirs(config, environment, runs_dir))
    rundir = RunDir.open(directory, run_id)
    tally = CallTally()
    probes: dict[str, str | None] = {}
    modes: Counter[str] = Counter()
    for record in iter_history(Path(rundir.history)):
        if not record.llm_calls:
            continue
        tally.add(record.llm_calls, record.champion if record.evaluated else None)
        for call in record.llm_calls:
            if call.purpose == "probe":
                probes[call.structured_output] = call.verdict
            else:
                modes[call.structured_output] += 1
    summaries = tally.summaries()
    if as_json:
        payload = {
            "models": [_as_json(s) for s in summaries],
            "structured_output": {"probe": probes, "calls": dict(modes)},
        }
        console.print_json(json.dumps(payload))
        return
    if not summaries:
        console.print(f"run {run_id} made no recorded LLM calls")
        return
    used = ", ".join(f"{mode} {count}" for mode, count in modes.most_common())
    console.print(f"structured output of the calls: {used or '-'}", markup=False)
    for kind, verdict in probes.items():
        console.print(f"  auto probe: {kind} {verdict}", markup=False)
    _print_table(run_id, summaries)


def _print_table(run_id: str, summaries: Sequence[ModelSummary]) -> None:
    table = Table(title=f"LLM calls of run {run_id}")
    for column in (
        "model", "proposals", "valid 1st try", "repaired", "improved", "calls", "tokens",
        "cost", "p50", "p90", "p99",
    ):
        table.add_column(column)
    for s in summaries:
        table.add_row(
            s.model, str(s.proposals), _rate(s.valid_first_try_rate), _rate(s.repair_rate),
            _rate(s.improvement_rate), str(s.calls), str(s.tokens),
            "-" if s.cost is None else f"{s.cost:.4f}", _seconds(s.latency_percentile(50)),
            _seconds(s.latency_percentile(90)), _seconds(s.latency_percentile(99)),
        )
    console.print(table)
    for s in summaries:
        finish = ", ".join(f"{k} {v}" for k, v in s.finish_reasons.items())
        console.print(f"{s.model}: finish reasons: {finish or '-'}", markup=False)
        for reason, count in list(s.rejections.items())[:_TOP_REJECTIONS]:
            console.print(f"  rejected {count}x: {reason}", markup=False)
