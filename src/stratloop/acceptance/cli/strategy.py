"""``stratloop check strategy-…``: the deployment guide's Phase 3 checks.

They join the Phase 2 checks on the ``check`` group. Each loads
``--environment``'s configuration, builds the real factor-graph generator on
its data and the real LLM proposer (by default against a loopback scripted
endpoint, and says so), runs its checks on the real factory and strategies,
prints a table and exits 0 only when every check passed (1 otherwise).
``--output FILE`` also writes the report as JSON.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from stratloop.acceptance.cli.rehearsal import (
    Endpoint,
    LLMEndpointOption,
    OutputOption,
    generators,
    write_json,
)
from stratloop.cli._app import command, console, fail
from stratloop.cli._options import EnvironmentOption

if TYPE_CHECKING:
    from stratloop.acceptance.rehearsal import Generators
    from stratloop.acceptance.strategy_checks import CheckReport

__all__ = ["register"]


def _show(report: CheckReport, made: Generators, environment: str, output: Path | None) -> None:
    table = Table(title=f"{report.title} ({environment})")
    table.add_column("check")
    table.add_column("result")
    table.add_column("observed", overflow="fold")
    for result in report.results:
        mark = "[green]PASS[/]" if result.passed else "[red]FAIL[/]"
        table.add_row(result.name, mark, result.detail)
    console.print(table)
    console.print(made.note)
    write_json(output, {"environment": environment, "generators": made.note, **report.as_dict()})
    if not report.passed:
        failed = sum(not result.passed for result in report.results)
        fail(f"{failed} of {len(report.results)} checks failed")
    console.print(f"all {len(report.results)} checks passed")


def _run_check(
    check: Callable[..., CheckReport], environment: str, endpoint: Endpoint, output: Path | None
) -> None:
    """Run ``check`` on the real generators, which must include an LLM side."""
    with generators(environment, endpoint) as made:
        if made.llm is None:
            fail(
                f"{made.note}; these checks exercise LLMStrategy and need one: use "
                "--llm-endpoint scripted, or enable the LLM with llm.base_url"
            )
        report = check(made.config, llm=made.llm, factor_graph=made.factor_graph)
    _show(report, made, environment, output)


_CHECKS = {
    "strategy-selection": (
        "check_strategy_selection",
        "Phase 3: use_factor_graph true/false/null select FactorGraph/LLM/Mixed, logged.",
    ),
    "strategy-factory": (
        "check_strategy_factory",
        "Phase 3: right instances, injected generators, immutable context, lifecycle.",
    ),
}


def _strategy_check(name: str) -> Callable[..., None]:
    """The command that runs the check function ``name`` of the strategy checks."""

    def command(
        environment: EnvironmentOption = "local",
        output: OutputOption = None,
        llm_endpoint: LLMEndpointOption = Endpoint.scripted,
    ) -> None:
        from stratloop.acceptance import strategy_checks  # noqa: PLC0415 - numpy; --help fast

        _run_check(getattr(strategy_checks, name), environment, llm_endpoint, output)

    return command


def strategy_overhead(
    iterations: Annotated[int, typer.Option("--iterations", "-n", min=1)] = 1000,
    environment: EnvironmentOption = "local",
    output: OutputOption = None,
    llm_endpoint: LLMEndpointOption = Endpoint.scripted,
) -> None:
    """Phase 3: selection and invocation overhead percentiles against the guide's budgets."""
    from stratloop.acceptance.strategy_overhead import (  # noqa: PLC0415 - numpy; keep --help fast
        measure_strategy_overhead,
    )

    with generators(environment, llm_endpoint) as made:
        report = measure_strategy_overhead(
            made.config, iterations, llm=made.llm, factor_graph=made.factor_graph
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
    console.print(made.note)
    write_json(output, {"environment": environment, "generators": made.note, **report.as_dict()})
    if not report.passed:
        fail("strategy-pattern overhead is over the guide's budget")
    console.print(f"{iterations} iterations: within the guide's budgets")


def register(check_app: typer.Typer) -> None:
    """Add these commands to the ``check`` group."""
    for name, (check, summary) in _CHECKS.items():
        command(check_app, name, summary=summary)(_strategy_check(check))
    command(check_app, "strategy-overhead")(strategy_overhead)
