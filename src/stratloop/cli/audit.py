"""``stratloop audit``: verify, report on and query the Phase 4 audit trail.

Exit codes: 0 clean, 1 violations or breaks, 2 unusable input
(a missing or unreadable trail, an unknown environment).
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from stratloop.cli._app import EXIT_INVALID, EXIT_UNUSABLE, app, command, console, fail, group
from stratloop.cli._options import EnvironmentOption

if TYPE_CHECKING:
    from stratloop.audit.verify import TrailReport, VerifyReport
    from stratloop.report.audit import ReportData

__all__ = ["audit_app", "existing_trail", "print_verify", "trail_path"]

audit_app = group("audit", "Verify, report on and query the audit trail.")
app.add_typer(audit_app)

AuditFileOption = Annotated[
    Path | None,
    typer.Option("--audit-file", help="Audit file or directory (default: the environment's)."),
]
DateOption = Annotated[dt.datetime | None, typer.Option(formats=["%Y-%m-%d"])]


def trail_path(audit_file: Path | None, environment: str) -> Path:
    """``audit_file`` when given, else the environment's audit path."""
    if audit_file is not None:
        return audit_file
    from stratloop.environments import (  # noqa: PLC0415 - pydantic; keep --help fast
        load_environment,
    )

    return load_environment(environment).audit_path


def existing_trail(path: Path) -> Path:
    """``path``, or exit 2 saying the trail does not exist yet.

    A live file that is gone while its checkpoint log remains is a trail: verify
    reports what is missing.
    """
    checkpoints = path.with_name(path.name.removesuffix(".jsonl") + ".checkpoints.jsonl")
    if not path.exists() and not checkpoints.exists():
        fail(
            f"no audit trail at {path}: it does not exist yet (run the loop with "
            "PHASE4_AUDIT_TRAIL=true, or pass --audit-file)",
            EXIT_UNUSABLE,
        )
    return path


def _print_anchoring(trail: TrailReport) -> None:
    """The last checkpoint, what follows it unanchored, and what was not yet durable."""
    checkpoint = trail.last_checkpoint
    if checkpoint is None:
        console.print(
            f"  [yellow]no checkpoint:[/] all {trail.unanchored} record(s) are unanchored"
        )
    else:
        signed = f"signed by key {checkpoint.key_id}" if checkpoint.key_id else "unsigned"
        console.print(
            f"  last checkpoint: seq {checkpoint.seq} at {checkpoint.time} ({signed}); "
            f"{trail.unanchored} record(s) after it are unanchored"
        )
    if trail.not_durable:
        console.print(
            f"  {trail.not_durable} record(s) after the head file's seq were written but not yet "
            "made durable (fsync batch/never, or a crash before the writer's next start)"
        )


def print_verify(report: VerifyReport) -> None:
    """Print a verification: each trail, its breaks, the violations and the LLM-share tests."""
    for trail in report.trails:
        span = (
            f"seqs {trail.first_seq}-{trail.last_seq}" if trail.first_seq is not None else "empty"
        )
        console.print(
            f"trail {trail.live}: {len(trail.files)} file(s), {trail.records} records, {span}"
        )
        console.print(f"  checked: {trail.mode}")
        _print_anchoring(trail)
        for line in trail.retention:
            console.print(f"  retained (configured retention): {line}")
        for line in trail.torn:
            console.print(f"  [yellow]torn line (reported, not a break):[/] {line}")
        if trail.first_break:
            console.print(f"  [red]first break:[/] {trail.first_break}")
            for extra in trail.breaks[1:6]:
                console.print(f"  [red]also:[/] {extra}")
            if len(trail.breaks) > 6:
                console.print(f"  … and {len(trail.breaks) - 6} more")
    for violation in report.violations.records[:20]:
        console.print(f"[red]violation[/] at {violation.where}: {violation.reason}")
    for test in report.violations.shares:
        verdict = "[red]VIOLATION[/]" if test.violated else "[green]consistent[/]"
        console.print(
            f"LLM share in segment {test.config_hash[:12]}: {test.llm_decided}/{test.trials} "
            f"decided ({test.observed_rate:.1%}) against configured {test.expected_rate:.1%}, "
            f"binomial p={test.p_value:.3g}: {verdict}"
        )
    count = report.violations.count
    console.print(
        f"{report.record_count} records, {len(report.breaks)} break(s), "
        f"{count} violation{'s' * (count != 1)}"
    )


@command(audit_app, "verify")
def verify(
    path: Annotated[Path, typer.Argument(help="An audit file or a directory of trails.")],
    key_file: Annotated[
        Path | None,
        typer.Option("--key-file", help="File with the trail's HMAC key(s), signing key last."),
    ] = None,
    key_env: Annotated[
        str | None,
        typer.Option("--key-env", help="Environment variable holding the trail's HMAC key(s)."),
    ] = None,
) -> None:
    """Check schema, seq contiguity, the hash chain across rotated files, and violations.

    With the trail's key, also every record's HMAC, the signatures of checkpoints, key
    rotations and retention entries, and that the last checkpoint is still in the trail.
    """
    import os  # noqa: PLC0415 - only this command reads the environment for a key

    from stratloop.audit import load_keyring  # noqa: PLC0415 - numpy; keep --help fast
    from stratloop.audit.verify import verify_trail  # noqa: PLC0415 - numpy; keep --help fast

    keyring = load_keyring(key_env, key_file, os.environ)
    report = verify_trail(existing_trail(path), keyring=keyring)
    print_verify(report)
    if not report.ok:
        raise typer.Exit(EXIT_INVALID)


@command(audit_app, "checkpoint")
def checkpoint(
    path: Annotated[Path, typer.Argument(help="The trail's live file.")],
) -> None:
    """Print the trail's last signed checkpoint as one JSON line, for an external system to keep.

    Exit 2 when the trail has no checkpoint yet.
    """
    import dataclasses  # noqa: PLC0415 - only this command

    from stratloop.audit import last_checkpoint  # noqa: PLC0415 - numpy; keep --help fast

    found = last_checkpoint(path)
    if found is None:
        fail(
            f"no checkpoint for {path} yet (the writer appends one every "
            "audit.checkpoint_interval_s and when it closes)",
            EXIT_UNUSABLE,
        )
    sys.stdout.write(json.dumps(dataclasses.asdict(found), sort_keys=True) + "\n")


def _report_exit(data: ReportData, output: Path) -> None:
    console.print(f"wrote {output}")
    if data.empty_reason:
        fail(f"empty-state report: {data.empty_reason}", EXIT_UNUSABLE)
    bad = len(data.violations) + sum(bool(s["violated"]) for s in data.shares) + len(data.breaks)
    console.print(f"{data.summary['Records']} records, {bad} violation(s) or break(s)")
    if bad:
        raise typer.Exit(EXIT_INVALID)


@command(audit_app, "report")
def report(
    output: Annotated[Path, typer.Option("--output", help="The HTML file to write.")],
    audit_file: Annotated[
        list[Path] | None, typer.Option("--audit-file", help="Audit file(s) or directories.")
    ] = None,
    environment: EnvironmentOption = "local",
    date: DateOption = None,
    start_date: DateOption = None,
    end_date: DateOption = None,
) -> None:
    """Write a self-contained HTML report (optionally one UTC day or a date range)."""
    from stratloop.report.audit import write_report  # noqa: PLC0415 - numpy; keep --help fast

    paths = audit_file or [trail_path(None, environment)]
    first, last = date or start_date, date or end_date
    start = first.date() if first is not None else None
    end = last.date() if last is not None else None
    data = write_report(paths, output, start=start, end=end, title=f"Audit report ({environment})")
    _report_exit(data, output)


@command(audit_app, "daily-report")
def daily_report(
    date: Annotated[dt.datetime, typer.Option("--date", formats=["%Y-%m-%d"])],
    environment: EnvironmentOption = "local",
    output: Annotated[Path | None, typer.Option("--output")] = None,
    audit_file: Annotated[list[Path] | None, typer.Option("--audit-file")] = None,
) -> None:
    """One UTC day of the environment's trail, every archive and instance merged."""
    from stratloop.report.audit import write_report  # noqa: PLC0415 - numpy; keep --help fast

    day = date.date()
    target = output or Path(f"audit_report_{environment}_{day.isoformat()}.html")
    paths = audit_file or [trail_path(None, environment)]
    data = write_report(
        paths, target, start=day, end=day, title=f"Daily audit report {day} ({environment})"
    )
    _report_exit(data, target)


@command(audit_app, "final-report")
def final_report(
    start_date: Annotated[dt.datetime, typer.Option("--start-date", formats=["%Y-%m-%d"])],
    end_date: Annotated[dt.datetime, typer.Option("--end-date", formats=["%Y-%m-%d"])],
    output: Annotated[Path, typer.Option("--output")],
    environment: EnvironmentOption = "local",
    audit_file: Annotated[list[Path] | None, typer.Option("--audit-file")] = None,
) -> None:
    """The date-range report over every archive and instance, with the per-phase summary."""
    from stratloop.report.audit import write_report  # noqa: PLC0415 - numpy; keep --help fast

    paths = audit_file or [trail_path(None, environment)]
    data = write_report(
        paths,
        output,
        start=start_date.date(),
        end=end_date.date(),
        phases=True,
        title=f"Final audit report {start_date.date()} to {end_date.date()} ({environment})",
    )
    _report_exit(data, output)


@command(audit_app, "query")
def query(
    sql: Annotated[str, typer.Argument(help="SQL over the view `audit`.")],
    audit_file: Annotated[list[Path] | None, typer.Option("--audit-file")] = None,
    environment: EnvironmentOption = "local",
    fmt: Annotated[str, typer.Option("--format", help="table, csv or json")] = "table",
) -> None:
    """Run SQL with DuckDB over every archive (current, zstd and gzip) as a view named `audit`."""
    from stratloop.audit.query import query_trail  # noqa: PLC0415 - numpy; keep --help fast

    if fmt not in ("table", "csv", "json"):
        fail(f"--format must be table, csv or json but got {fmt!r}", EXIT_UNUSABLE)
    paths = [existing_trail(p) for p in (audit_file or [trail_path(None, environment)])]
    result = query_trail(paths, sql)
    if fmt == "json":
        rows = [dict(zip(result.columns, row, strict=True)) for row in result.rows]
        console.print_json(json.dumps(rows, default=str))
        return
    if fmt == "csv":
        writer = csv.writer(sys.stdout)
        writer.writerow(result.columns)
        writer.writerows(result.rows)
        return

    table = Table(*result.columns)
    for row in result.rows:
        table.add_row(*(str(value) for value in row))
    console.print(table)
