"""``stratloop check ...``: the deployment guide's Phase 2 checks.

Each command loads the environment's configuration file as the base
document, runs its cases through the real loader on both validation paths,
prints a table, writes JSON with ``--output`` and exits 0 only if every check
passes (1 otherwise; 2 for an unknown environment or unreadable file).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from stratloop.cli._app import EXIT_INVALID, command, console, group
from stratloop.cli._options import EnvironmentOption

if TYPE_CHECKING:
    from stratloop.acceptance.config_cases import CaseResult

__all__ = ["check_app"]

check_app = group("check", "Run the deployment guide's checks (Phases 2-4) and health checks.")

OutputOption = Annotated[
    Path | None, typer.Option("--output", help="Also write the results as JSON to this file.")
]


class TestCase(str, Enum):
    """The guide's two validation test cases."""

    valid_configs = "valid_configs"
    invalid_configs = "invalid_configs"


def _base(environment: str) -> dict[str, Any]:
    """The environment's configuration document: the base every check changes."""
    from stratloop.environments import load_environment  # noqa: PLC0415 - keep --help fast

    return load_environment(environment).config_document()


def _report(title: str, environment: str, results: list[CaseResult], output: Path | None) -> None:
    table = Table(title=f"{title} ({environment})", show_lines=False)
    for column in ("check", "expected", "observed", "result"):
        table.add_column(column)
    for result in results:
        mark = "[green]PASS[/]" if result.passed else "[red]FAIL[/]"
        table.add_row(result.name, result.expected, result.observed, mark)
    console.print(table)
    failed = [r for r in results if not r.passed]
    for result in failed:
        console.print(f"[red]FAIL[/] {result.name}: {result.detail}", markup=True, soft_wrap=True)
    passed = len(results) - len(failed)
    console.print(f"{passed}/{len(results)} checks passed")
    if output is not None:
        document = {
            "check": title,
            "environment": environment,
            "passed": not failed,
            "total": len(results),
            "failed": len(failed),
            "results": [r.as_dict() for r in results],
        }
        output.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    if failed:
        raise typer.Exit(EXIT_INVALID)


@command(check_app, "pydantic-validation")
def pydantic_validation(
    test_case: Annotated[TestCase, typer.Option("--test-case", help="Which cases to run.")],
    environment: EnvironmentOption = "local",
    output: OutputOption = None,
) -> None:
    """Valid configurations are accepted; invalid ones are rejected with clear errors."""
    from stratloop.acceptance.config_cases import (  # noqa: PLC0415 - pydantic; keep --help fast
        validation_checks,
    )

    results = validation_checks(test_case.value, _base(environment))
    _report(f"pydantic validation: {test_case.value}", environment, results, output)


_CASES = {
    "backward-compatibility": (
        "backward_compatibility_checks",
        "backward compatibility",
        "Legacy dict configs, mixed dict / model use and plain-dict callers still work.",
    ),
    "validation-edge-cases": (
        "edge_case_checks",
        "validation edge cases",
        "Boundaries, optional None values, extra fields and int vs float.",
    ),
}


def _cases_command(checks: str, title: str) -> Callable[..., None]:
    """The command that runs the case function ``checks`` of the configuration cases."""

    def command(environment: EnvironmentOption = "local", output: OutputOption = None) -> None:
        from stratloop.acceptance import config_cases  # noqa: PLC0415 - pydantic; --help fast

        _report(title, environment, getattr(config_cases, checks)(_base(environment)), output)

    return command


for _name, (_checks, _title, _summary) in _CASES.items():
    command(check_app, _name, summary=_summary)(_cases_command(_checks, _title))


@command(check_app, "validation-overhead")
def validation_overhead(
    iterations: Annotated[
        int, typer.Option("--iterations", min=1, help="Timed validations.")
    ] = 1000,
    environment: EnvironmentOption = "local",
    output: OutputOption = None,
) -> None:
    """Time configuration validation on both paths against the guide's 1 ms budget."""
    from stratloop.acceptance.validation_overhead import (  # noqa: PLC0415 - pydantic; --help fast
        measure_overhead,
    )

    report = measure_overhead(_base(environment), iterations)
    report["environment"] = environment
    table = Table(title=f"validation overhead ({environment}, {iterations} runs, CPU µs)")
    for column in ("path", "p50", "p95", "p99", "max", "wall p99", "budget", "result"):
        table.add_column(column)
    for name, stats in report["paths"].items():
        table.add_row(
            name,
            f"{stats['p50_us']:.1f}",
            f"{stats['p95_us']:.1f}",
            f"{stats['p99_us']:.1f}",
            f"{stats['max_us']:.1f}",
            f"{stats['wall']['p99_us']:.1f}",
            f"{report['budget_us']:.0f}",
            "[green]PASS[/]" if stats["passed"] else "[red]FAIL[/]",
        )
    console.print(table)
    if output is not None:
        output.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    console.print("passed" if report["passed"] else "[red]over budget[/]")
    if not report["passed"]:
        raise typer.Exit(EXIT_INVALID)
