"""``stratloop loop check-audit-logging``: the guide's Phase 4 audit logging test."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from stratloop.cli._app import command, console, group
from stratloop.flags import open_flag_source

if TYPE_CHECKING:
    from stratloop.config.models import StratloopConfig

__all__ = ["loop_app"]

loop_app = group("loop", "Checks of the learning loop from the deployment guide.")


@command(loop_app, "check-audit-logging")
def check_audit_logging(
    output: Annotated[Path, typer.Option("--output", "-o", help="The audit trail file to write.")],
    iterations: Annotated[int, typer.Option("--iterations", "-n", help="Iterations to run.")] = 100,
    environment: Annotated[
        str, typer.Option("--environment", "-e", help="Deployment environment.")
    ] = "local",
    flags_file: Annotated[
        Path | None, typer.Option("--flags-file", help="Dotenv file of feature flags.")
    ] = None,
) -> None:
    """Run N real iterations with Phase 4 on, then check the audit trail has N valid records."""
    from stratloop.acceptance.audit_logging import (  # noqa: PLC0415 - numpy; keep --help fast
        report_rows,
        run_audit_logging,
    )
    from stratloop.config import load_config  # noqa: PLC0415 - pydantic; keep --help fast
    from stratloop.environments import (  # noqa: PLC0415 - pydantic; keep --help fast
        load_environment,
    )

    flags = open_flag_source(flags_file)
    env = load_environment(environment)

    def load(overrides: dict[str, Any]) -> StratloopConfig:
        return load_config(
            env.config_path, flags=flags.current(), overrides=overrides, layers=[env.layer()]
        )

    report = run_audit_logging(load, flags, iterations=iterations, output=output)
    if report.llm_note:
        console.print(f"note: {report.llm_note}", markup=False)
    console.print(
        f"run {report.run_id} ({report.run_status}), environment {environment}: "
        f"{report.records} audit records in {report.output}"
    )
    table = Table("check", "result", "detail", title="audit logging")
    for name, result, detail in report_rows(report):
        table.add_row(name, result, detail)
    console.print(table)
    if not report.passed:
        raise typer.Exit(1)
    console.print(f"PASS: {iterations} iterations = {report.records} audit records")
