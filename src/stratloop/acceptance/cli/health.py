"""``stratloop check phaseN-health`` and ``stratloop check production-validation``.

Registered on the ``check`` group. Each prints a table of the phase's
metrics (value, target, alert threshold, verdict), writes the JSON report to
every ``--output`` file, and exits 0 only when the status is healthy.

The guide writes ``--output staging_phase2_day{1,2}.json``: bash expands the
braces into ``--output staging_phase2_day1.json staging_phase2_day2.json``,
so extra file names after the options are accepted as more outputs and the
same report is written to each.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from stratloop.cli._app import EXIT_INVALID, command, console
from stratloop.cli._options import EnvironmentOption

if TYPE_CHECKING:
    from stratloop.acceptance.health import CheckReport

__all__ = ["register"]

OutputsOption = Annotated[
    list[Path] | None,
    typer.Option("--output", "-o", help="Write the JSON report here (repeatable)."),
]
MoreOutputs = Annotated[
    list[Path] | None,
    typer.Argument(help="More output files (what a shell brace expansion of --output gives)."),
]


def _emit(report: CheckReport, outputs: list[Path]) -> None:
    from stratloop.service import format_value  # noqa: PLC0415 - fastapi; keep --help fast

    table = Table(title=f"{report.kind} ({report.environment}): {report.status}")
    for column in ("metric", "value", "target", "alert", "verdict"):
        table.add_column(column)
    marks = {"ok": "[green]ok[/]", "alert": "[red]ALERT[/]", "no_data": "[dim]not enough data[/]"}
    for figure in report.figures:
        t = figure.threshold
        table.add_row(
            t.title,
            format_value(figure.measurement.value, t.unit),
            t.target,
            t.alert_text,
            marks[figure.verdict],
        )
    console.print(table)
    for figure in report.figures:
        if figure.verdict == "no_data":
            detail = figure.measurement.detail
            console.print(f"not enough data for {figure.threshold.title}: {detail}", soft_wrap=True)
    for check in report.checks:
        mark = "[green]pass[/]" if check.passed else "[red]FAIL[/]"
        console.print(f"{mark} {check.name}: {check.detail}", soft_wrap=True)
    text = json.dumps(report.as_dict(), indent=2) + "\n"
    for output in outputs:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
        console.print(f"wrote {output}")
    if report.status == "not_enough_data":
        console.print("[yellow]not enough data[/]: no criterion could be judged; see above")
        raise typer.Exit(EXIT_INVALID)
    if not report.healthy:
        console.print(f"[red]{report.status}[/]: see the verdicts above")
        raise typer.Exit(EXIT_INVALID)


def _outputs(output: list[Path] | None, more: list[Path] | None) -> list[Path]:
    return [*(output or []), *(more or [])]


def health(phase: int, environment: str, outputs: list[Path], *, service: bool) -> None:
    """Run the phase's health check on ``environment`` and emit the report."""
    from stratloop.acceptance.health import (  # noqa: PLC0415 - fastapi; keep --help fast
        health_check,
    )
    from stratloop.environments import (  # noqa: PLC0415 - pydantic; keep --help fast
        load_environment,
    )

    env = load_environment(environment)
    _emit(health_check(phase, env, env.config_document(), service=service), outputs)


ServiceOption = Annotated[
    bool,
    typer.Option(
        "--service/--no-service",
        help="Also ask the service at the environment's service_url when it answers.",
    ),
]


_PHASE_HEALTH = {
    2: "Phase 2 daily check: validation error rate, false positives, overhead, compatibility.",
    3: "Phase 3 daily check: behavioural equivalence, selection accuracy, overhead, errors.",
    4: "Phase 4 daily check: audit completeness, overhead, violations, disk, HTML report.",
}


def _phase_health(phase: int) -> Callable[..., None]:
    """The ``phaseN-health`` command of one phase."""

    def command(
        environment: EnvironmentOption = "local",
        output: OutputsOption = None,
        more: MoreOutputs = None,
        service: ServiceOption = True,
    ) -> None:
        health(phase, environment, _outputs(output, more), service=service)

    command.__doc__ = _PHASE_HEALTH[phase]
    return command


def production_validation(
    phase: Annotated[int, typer.Option("--phase", min=2, max=4, help="The phase validated.")],
    duration_hours: Annotated[
        float, typer.Option("--duration-hours", min=0.0, help="How long the soak runs at most.")
    ],
    environment: EnvironmentOption = "production",
    output: OutputsOption = None,
    more: MoreOutputs = None,
    max_iterations: Annotated[
        int | None,
        typer.Option(
            "--max-iterations", min=1, help="Stop after this many iterations (for rehearsals)."
        ),
    ] = None,
) -> None:
    """Soak the loop with the phase's flags, then judge the phase's success criteria."""
    from stratloop.acceptance.health import phase_flags  # noqa: PLC0415 - fastapi; keep --help fast
    from stratloop.acceptance.health import (  # noqa: PLC0415 - fastapi; keep --help fast
        production_validation as soak,
    )
    from stratloop.environments import (  # noqa: PLC0415 - pydantic; keep --help fast
        load_environment,
    )

    env = load_environment(environment)
    base = env.config_document()
    config = env.load_config(flags=phase_flags(phase))
    console.print(
        f"soaking phase {phase} on {environment} for up to {duration_hours:g} h"
        + (f" or {max_iterations} iterations" if max_iterations else "")
    )
    report = soak(
        phase,
        config,
        base,
        environment=environment,
        duration_hours=duration_hours,
        max_iterations=max_iterations,
    )
    _emit(report, _outputs(output, more))


def register(check_app: typer.Typer) -> None:
    """Add these commands to the ``check`` group."""
    for phase in _PHASE_HEALTH:
        command(check_app, f"phase{phase}-health")(_phase_health(phase))
    command(check_app, "production-validation")(production_validation)
