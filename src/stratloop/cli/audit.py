"""``stratloop audit``: verify, report, query and drill the Phase 4 audit trail.

Exit codes: 0 clean, 1 violations, breaks or a failed drill, 2 unusable input
(a missing or unreadable trail, an unknown environment).
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from stratloop.cli._app import EXIT_INVALID, EXIT_UNUSABLE, app, console, fail, handle_errors
from stratloop.cli._options import EnvironmentOption
from stratloop.flags import EnvFlagSource

if TYPE_CHECKING:
    from stratloop.audit.report import ReportData
    from stratloop.audit.verify import VerifyReport
    from stratloop.config.models import StratloopConfig

__all__ = ["audit_app"]

audit_app = typer.Typer(
    name="audit", help="Verify, report on and query the audit trail.", no_args_is_help=True
)
app.add_typer(audit_app)

AuditFileOption = Annotated[
    Path | None,
    typer.Option("--audit-file", help="Audit file or directory (default: the environment's)."),
]
DateOption = Annotated[dt.datetime | None, typer.Option(formats=["%Y-%m-%d"])]


def _environment_config(name: str) -> tuple[Path, StratloopConfig]:
    from stratloop.environments import (  # noqa: PLC0415 - pydantic; keep --help fast
        load_environment,
    )

    environment = load_environment(name)
    return environment.audit_path, environment.load_config()


def _audit_path(audit_file: Path | None, environment: str) -> Path:
    if audit_file is not None:
        return audit_file
    from stratloop.environments import (  # noqa: PLC0415 - pydantic; keep --help fast
        load_environment,
    )

    return load_environment(environment).audit_path


def _existing(path: Path) -> Path:
    if not path.exists():
        fail(
            f"no audit trail at {path}: it does not exist yet (run the loop with "
            "PHASE4_AUDIT_TRAIL=true, or pass --audit-file)",
            EXIT_UNUSABLE,
        )
    return path


def _print_verify(report: VerifyReport) -> None:
    for trail in report.trails:
        span = (
            f"seqs {trail.first_seq}-{trail.last_seq}" if trail.first_seq is not None else "empty"
        )
        console.print(
            f"trail {trail.live}: {len(trail.files)} file(s), {trail.records} records, {span}"
        )
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


@audit_app.command("verify")
@handle_errors
def verify(
    path: Annotated[Path, typer.Argument(help="An audit file or a directory of trails.")],
) -> None:
    """Check schema, seq contiguity, the hash chain across rotated files, and violations."""
    from stratloop.audit.verify import verify_trail  # noqa: PLC0415 - numpy; keep --help fast

    report = verify_trail(_existing(path))
    _print_verify(report)
    if not report.ok:
        raise typer.Exit(EXIT_INVALID)


@audit_app.command("check-records")
@handle_errors
def check_records(
    audit_file: AuditFileOption = None, environment: EnvironmentOption = "local"
) -> None:
    """The guide's completeness check: every required field in every record, then verify."""
    from stratloop.audit.record import (  # noqa: PLC0415 - numpy; keep --help fast
        GUIDE_REQUIRED_FIELDS,
    )
    from stratloop.audit.verify import (  # noqa: PLC0415 - numpy; keep --help fast
        iter_records,
        verify_trail,
    )

    path = _existing(_audit_path(audit_file, environment))
    missing: dict[str, int] = dict.fromkeys(GUIDE_REQUIRED_FIELDS, 0)
    total = failed_iterations = 0
    for _, _, record in iter_records(path):
        total += 1
        for name in GUIDE_REQUIRED_FIELDS:
            value = record.get(name)
            if name == "generation_method_used" and value is None:
                failed = (record.get("outcome") or {}).get("status") in ("failed", "timeout")
                failed_iterations += failed
                missing[name] += not failed
            elif name == "decision":
                missing[name] += not isinstance(value, dict) or "use_factor_graph" not in value
            elif name == "config_snapshot":
                missing[name] += not value
            elif value is None:
                missing[name] += 1
    for name in GUIDE_REQUIRED_FIELDS:
        state = "[green]ok[/]" if missing[name] == 0 else f"[red]missing in {missing[name]}[/]"
        console.print(f"  {name:<24} {total - missing[name]}/{total} {state}")
    if failed_iterations:
        console.print(
            f"  ({failed_iterations} failed iteration(s) used no generator: "
            "generation_method_used is null by design and the error is recorded)"
        )
    report = verify_trail(path)
    _print_verify(report)
    if total == 0 or any(missing.values()) or not report.ok:
        raise typer.Exit(EXIT_INVALID)
    console.print(f"[green]all {total} records complete; violation false for all[/]")


def _report_exit(data: ReportData, output: Path) -> None:
    console.print(f"wrote {output}")
    if data.empty_reason:
        fail(f"empty-state report: {data.empty_reason}", EXIT_UNUSABLE)
    bad = len(data.violations) + sum(bool(s["violated"]) for s in data.shares) + len(data.breaks)
    console.print(f"{data.summary['Records']} records, {bad} violation(s) or break(s)")
    if bad:
        raise typer.Exit(EXIT_INVALID)


@audit_app.command("report")
@handle_errors
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
    from stratloop.audit.report import write_report  # noqa: PLC0415 - numpy; keep --help fast

    paths = audit_file or [_audit_path(None, environment)]
    first, last = date or start_date, date or end_date
    start = first.date() if first is not None else None
    end = last.date() if last is not None else None
    data = write_report(paths, output, start=start, end=end, title=f"Audit report ({environment})")
    _report_exit(data, output)


@audit_app.command("daily-report")
@handle_errors
def daily_report(
    date: Annotated[dt.datetime, typer.Option("--date", formats=["%Y-%m-%d"])],
    environment: EnvironmentOption = "local",
    output: Annotated[Path | None, typer.Option("--output")] = None,
    audit_file: Annotated[list[Path] | None, typer.Option("--audit-file")] = None,
) -> None:
    """One UTC day of the environment's trail, every archive and instance merged."""
    from stratloop.audit.report import write_report  # noqa: PLC0415 - numpy; keep --help fast

    day = date.date()
    target = output or Path(f"audit_report_{environment}_{day.isoformat()}.html")
    paths = audit_file or [_audit_path(None, environment)]
    data = write_report(
        paths, target, start=day, end=day, title=f"Daily audit report {day} ({environment})"
    )
    _report_exit(data, target)


@audit_app.command("final-report")
@handle_errors
def final_report(
    start_date: Annotated[dt.datetime, typer.Option("--start-date", formats=["%Y-%m-%d"])],
    end_date: Annotated[dt.datetime, typer.Option("--end-date", formats=["%Y-%m-%d"])],
    output: Annotated[Path, typer.Option("--output")],
    environment: EnvironmentOption = "local",
    audit_file: Annotated[list[Path] | None, typer.Option("--audit-file")] = None,
) -> None:
    """The date-range report over every archive and instance, with the per-phase summary."""
    from stratloop.audit.report import write_report  # noqa: PLC0415 - numpy; keep --help fast

    paths = audit_file or [_audit_path(None, environment)]
    data = write_report(
        paths,
        output,
        start=start_date.date(),
        end=end_date.date(),
        phases=True,
        title=f"Final audit report {start_date.date()} to {end_date.date()} ({environment})",
    )
    _report_exit(data, output)


@audit_app.command("violations")
@handle_errors
def violations(
    audit_file: AuditFileOption = None, environment: EnvironmentOption = "local"
) -> None:
    """Count violations in the trail, then prove detection on injected copies."""
    from stratloop.audit.drills import violation_drill  # noqa: PLC0415 - numpy; keep --help fast
    from stratloop.audit.verify import verify_trail  # noqa: PLC0415 - numpy; keep --help fast

    path = _existing(_audit_path(audit_file, environment))
    report = verify_trail(path, keep_records=True)
    _print_verify(report)
    with tempfile.TemporaryDirectory(prefix="stratloop-violation-drill-") as tmp:
        results = violation_drill([dict(r) for r in report.records], Path(tmp))
    console.print("detection drill (each injected into a re-chained temporary copy):")
    for result in results:
        mark = "[green]caught[/]" if result.caught else "[red]MISSED[/]"
        console.print(f"  {mark} {result.name}: {result.detail}")
    if not report.ok or not all(result.caught for result in results):
        raise typer.Exit(EXIT_INVALID)
    console.print(f"[green]0 violations in {path}; every injected violation was caught[/]")


@audit_app.command("overhead")
@handle_errors
def overhead(
    output: Annotated[Path, typer.Option("--output")],
    iterations: Annotated[int, typer.Option("--iterations", min=10)] = 1000,
    environment: EnvironmentOption = "local",
) -> None:
    """Time build -> durable write per record with the environment's audit settings."""
    from stratloop.audit.drills import overhead_drill  # noqa: PLC0415 - numpy; keep --help fast
    from stratloop.config import snapshot  # noqa: PLC0415 - pydantic; keep --help fast

    _, config = _environment_config(environment)
    with tempfile.TemporaryDirectory(prefix="stratloop-audit-overhead-") as tmp:
        result = overhead_drill(
            iterations,
            config.audit,
            Path(tmp),
            snapshot=snapshot(config),
            flags=EnvFlagSource().current().as_dict(),
        )
    payload: dict[str, Any] = {"environment": environment, **result.as_dict()}
    output.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    console.print(
        f"audit overhead per record (fsync {result.fsync}): p50 {result.p50_us:.1f} µs, "
        f"p95 {result.p95_us:.1f} µs, p99 {result.p99_us:.1f} µs, max {result.max_us:.1f} µs "
        f"(budget {result.budget_ms:g} ms); {result.bytes_per_record:.0f} bytes/record = "
        f"{result.gb_per_day_at_1000_per_hour:.3f} GB/day at 1,000 iterations/hour (budget 1)"
    )
    console.print(f"wrote {output}")
    if not result.ok:
        raise typer.Exit(EXIT_INVALID)


@audit_app.command("rotation-drill")
@handle_errors
def rotation_drill(
    iterations: Annotated[int, typer.Option("--iterations", min=1)] = 10000,
    environment: EnvironmentOption = "local",
    rotate_max_bytes: Annotated[int, typer.Option("--rotate-max-bytes", min=1024)] = 262144,
    retention_files: Annotated[int, typer.Option("--retention-files", min=1)] = 20,
) -> None:
    """Write records through the real writer with a small rotate size in a temporary directory."""
    from stratloop.audit.drills import (  # noqa: PLC0415 - numpy; keep --help fast
        rotation_drill as drill,
    )
    from stratloop.config import snapshot  # noqa: PLC0415 - pydantic; keep --help fast

    _, config = _environment_config(environment)
    audit = config.audit.model_copy(
        update={"rotate_max_bytes": rotate_max_bytes, "retention_files": retention_files}
    )
    with tempfile.TemporaryDirectory(prefix="stratloop-rotation-drill-") as tmp:
        result = drill(
            iterations, audit, Path(tmp), snapshot=snapshot(config), seed=config.loop.seed
        )
        files = [f"{f.name} ({f.stat().st_size} bytes on disk)" for f in result.files]
    console.print(
        f"wrote {result.iterations} records (fsync {audit.fsync}, rotate_max_bytes "
        f"{rotate_max_bytes}, compress {audit.compress}, retention_files {retention_files})"
    )
    console.print(
        f"files kept: {len(files)}; largest uncompressed file {result.max_file_bytes} bytes"
    )
    for name in files[:3] + (["…"] if len(files) > 4 else []) + files[-1:]:
        console.print(f"  {name}")
    console.print(
        f"archives compressed: {result.compressed} of {len(files) - 1}; "
        f"retention deleted {len(result.retention_entries)} archive(s) holding "
        f"{result.deleted_by_retention} records, each deletion recorded with its seq range and "
        "last hash in the retention log"
    )
    console.print(
        f"accounting: {result.in_files} records in kept files + {result.deleted_by_retention} "
        f"deleted by the configured retention = {result.in_files + result.deleted_by_retention} "
        f"of {result.iterations}; missing {len(result.missing)}, duplicated {result.duplicates}. "
        "Nothing was lost: retention removes only whole archives, by configuration, and the "
        "retention log accounts for every seq it removed."
    )
    for problem in result.verify_problems[:5]:
        console.print(f"  [red]{problem}[/]")
    if not result.ok:
        raise typer.Exit(EXIT_INVALID)
    console.print("[green]rotation, compression, retention and the hash chain are as configured[/]")


@audit_app.command("query")
@handle_errors
def query(
    sql: Annotated[str, typer.Argument(help="SQL over the view `audit`.")],
    audit_file: Annotated[list[Path] | None, typer.Option("--audit-file")] = None,
    environment: EnvironmentOption = "local",
    fmt: Annotated[str, typer.Option("--format", help="table, csv or json")] = "table",
) -> None:
    """Run SQL with DuckDB over every archive (current and gzipped) as a view named `audit`."""
    from stratloop.audit.query import query_trail  # noqa: PLC0415 - numpy; keep --help fast

    if fmt not in ("table", "csv", "json"):
        fail(f"--format must be table, csv or json but got {fmt!r}", EXIT_UNUSABLE)
    paths = [_existing(p) for p in (audit_file or [_audit_path(None, environment)])]
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
