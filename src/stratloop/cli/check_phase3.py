"""``stratloop phase3 …``: the deployment guide's Phase 3 checks.

Each command loads ``--environment``'s configuration, runs its checks on the
real factory and strategies, prints a table and exits 0 only when every check
passed (1 otherwise). ``--output FILE`` also writes the report as JSON.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from stratloop.cli._app import app, console, fail, handle_errors
from stratloop.cli._options import EnvironmentOption

if TYPE_CHECKING:
    from stratloop.config.models import StratloopConfig
    from stratloop.generation.base import CandidateSource
    from stratloop.generation.checks import CheckReport

__all__ = ["environment_config", "generators", "phase3", "write_json"]

phase3 = typer.Typer(
    name="phase3",
    help="Phase 3 (strategy pattern) checks from the deployment guide.",
    no_args_is_help=True,
)
app.add_typer(phase3)

OutputOption = Annotated[
    Path | None, typer.Option("--output", "-o", help="Also write the report as JSON here.")
]


def environment_config(name: str) -> StratloopConfig:
    """The effective configuration of environment ``name`` under the current flags."""
    from stratloop.environments import load_environment  # noqa: PLC0415 - keep --help fast
    from stratloop.flags import EnvFlagSource  # noqa: PLC0415

    return load_environment(name).load_config(flags=EnvFlagSource().current())


def generators() -> tuple[CandidateSource, CandidateSource]:
    """The LLM and factor-graph generators the checks inject."""
    from stratloop.generation.testing import drawing_source  # noqa: PLC0415

    return drawing_source("llm"), drawing_source("factor_graph")


def write_json(output: Path | None, payload: dict[str, Any]) -> None:
    """Write ``payload`` as JSON to ``output`` when it is given."""
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
        console.print(f"wrote {output}")


def _show(report: CheckReport, environment: str, output: Path | None) -> None:
    from rich.table import Table  # noqa: PLC0415

    table = Table(title=f"{report.title} ({environment})")
    table.add_column("check")
    table.add_column("result")
    table.add_column("observed", overflow="fold")
    for result in report.results:
        mark = "[green]PASS[/]" if result.passed else "[red]FAIL[/]"
        table.add_row(result.name, mark, result.detail)
    console.print(table)
    write_json(output, {"environment": environment, **report.as_dict()})
    if not report.passed:
        failed = sum(not result.passed for result in report.results)
        fail(f"{failed} of {len(report.results)} checks failed")
    console.print(f"all {len(report.results)} checks passed")


@phase3.command("strategy-selection")
@handle_errors
def strategy_selection(
    environment: EnvironmentOption = "local", output: OutputOption = None
) -> None:
    """use_factor_graph true/false/null select FactorGraph/LLM/Mixed strategies, logged."""
    from stratloop.generation.checks import check_strategy_selection  # noqa: PLC0415

    llm, factor_graph = generators()
    report = check_strategy_selection(
        environment_config(environment), llm=llm, factor_graph=factor_graph
    )
    _show(report, environment, output)


@phase3.command("strategy-factory")
@handle_errors
def strategy_factory(environment: EnvironmentOption = "local", output: OutputOption = None) -> None:
    """Right instances, injected generators, immutable context, stateless lifecycle."""
    from stratloop.generation.checks import check_strategy_factory  # noqa: PLC0415

    llm, factor_graph = generators()
    report = check_strategy_factory(
        environment_config(environment), llm=llm, factor_graph=factor_graph
    )
    _show(report, environment, output)


@phase3.command("strategy-overhead")
@handle_errors
def strategy_overhead(
    iterations: Annotated[int, typer.Option("--iterations", "-n", min=1)] = 1000,
    environment: EnvironmentOption = "local",
    output: OutputOption = None,
) -> None:
    """Selection and invocation overhead percentiles against the guide's budgets."""
    from rich.table import Table  # noqa: PLC0415

    from stratloop.generation.overhead import measure_strategy_overhead  # noqa: PLC0415

    llm, factor_graph = generators()
    report = measure_strategy_overhead(
        environment_config(environment), iterations, llm=llm, factor_graph=factor_graph
    )
    table = Table(title=f"Phase 3: strategy overhead, {report.strategy} ({environment})")
    for column in ("measure", "p50 µs", "p95 µs", "p99 µs", "max µs", "budget", "result"):
        table.add_column(column)
    rows = (
        ("selection", report.selection, report.selection_budget_ms, report.selection_ok),
        ("invocation overhead", report.invocation_overhead, report.invocation_budget_ms,
         report.invocation_ok),
    )
    for name, summary, budget, ok in rows:
        mark = "[green]PASS[/]" if ok else "[red]FAIL[/]"
        table.add_row(
            name, f"{summary.p50_us:.2f}", f"{summary.p95_us:.2f}", f"{summary.p99_us:.2f}",
            f"{summary.max_us:.2f}", f"p99 < {budget} ms", mark,
        )
    direct = report.direct_call_overhead
    table.add_row(
        "direct call (baseline)", f"{direct.p50_us:.2f}", f"{direct.p95_us:.2f}",
        f"{direct.p99_us:.2f}", f"{direct.max_us:.2f}", "-", "-",
    )
    console.print(table)
    write_json(output, {"environment": environment, **report.as_dict()})
    if not report.passed:
        fail("strategy-pattern overhead is over the guide's budget")
    console.print(f"{iterations} iterations: within the guide's budgets")
