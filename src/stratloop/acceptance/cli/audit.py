"""The deployment guide's audit drills on ``stratloop audit``.

``check-records`` (every required field in every record), ``violations``
(count them, then prove detection on injected copies), ``overhead`` (time a
record's build and durable write) and ``rotation-drill`` (rotation,
compression and retention accounted for). Each drill works in a temporary
directory, never on the operator's trail; each exits 1 when it fails.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer

from stratloop.cli._app import EXIT_INVALID, command, console
from stratloop.cli._options import EnvironmentOption
from stratloop.cli.audit import AuditFileOption, existing_trail, print_verify, trail_path
from stratloop.flags import EnvFlagSource

__all__ = ["register"]


def register(audit_app: typer.Typer) -> None:
    """Add the drills to the ``audit`` group."""
    command(audit_app, "check-records")(check_records)
    command(audit_app, "violations")(violations)
    command(audit_app, "overhead")(overhead)
    command(audit_app, "rotation-drill")(rotation_drill)


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

    path = existing_trail(trail_path(audit_file, environment))
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
    print_verify(report)
    if total == 0 or any(missing.values()) or not report.ok:
        raise typer.Exit(EXIT_INVALID)
    console.print(f"[green]all {total} records complete; violation false for all[/]")


def violations(
    audit_file: AuditFileOption = None, environment: EnvironmentOption = "local"
) -> None:
    """Count violations in the trail, then prove detection on injected copies."""
    from stratloop.acceptance.audit_drills import (  # noqa: PLC0415 - numpy; keep --help fast
        violation_drill,
    )
    from stratloop.audit.verify import verify_trail  # noqa: PLC0415 - numpy; keep --help fast

    path = existing_trail(trail_path(audit_file, environment))
    report = verify_trail(path, keep_records=True)
    print_verify(report)
    with tempfile.TemporaryDirectory(prefix="stratloop-violation-drill-") as tmp:
        results = violation_drill([dict(r) for r in report.records], Path(tmp))
    console.print("detection drill (each injected into a re-chained temporary copy):")
    for result in results:
        mark = "[green]caught[/]" if result.caught else "[red]MISSED[/]"
        console.print(f"  {mark} {result.name}: {result.detail}")
    if not report.ok or not all(result.caught for result in results):
        raise typer.Exit(EXIT_INVALID)
    console.print(f"[green]0 violations in {path}; every injected violation was caught[/]")


def overhead(
    output: Annotated[Path, typer.Option("--output")],
    iterations: Annotated[int, typer.Option("--iterations", min=10)] = 1000,
    environment: EnvironmentOption = "local",
    rounds: Annotated[
        int, typer.Option("--rounds", min=1, help="Rounds of --iterations records; min of rounds.")
    ] = 3,
) -> None:
    """Time build -> durable write per record with the environment's audit settings.

    The records are written in rounds of ``--iterations``, each to a fresh trail;
    the round with the lowest p99 is reported (a shared host's load only adds time).
    """
    from stratloop.acceptance.audit_drills import (  # noqa: PLC0415 - numpy; keep --help fast
        overhead_drill,
    )
    from stratloop.environments import (  # noqa: PLC0415 - pydantic; keep --help fast
        load_environment,
    )

    config = load_environment(environment).load_config()
    result = overhead_drill(
        iterations, config, flags=EnvFlagSource().current().as_dict(), rounds=rounds
    )
    payload: dict[str, Any] = {"environment": environment, **result.as_dict()}
    output.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    console.print(
        f"audit overhead per record (fsync {result.fsync}; the best of {rounds} rounds of "
        f"{iterations}, round p99s {', '.join(f'{v:.0f}' for v in result.round_p99_us)} µs): "
        f"p50 {result.p50_us:.1f} µs, "
        f"p95 {result.p95_us:.1f} µs, p99 {result.p99_us:.1f} µs, max {result.max_us:.1f} µs "
        f"(budget {result.budget_ms:g} ms); {result.bytes_per_record:.0f} bytes/record = "
        f"{result.gb_per_day_at_1000_per_hour:.3f} GB/day at 1,000 iterations/hour (budget 1)"
    )
    console.print(f"wrote {output}")
    if not result.ok:
        raise typer.Exit(EXIT_INVALID)


def rotation_drill(
    iterations: Annotated[int, typer.Option("--iterations", min=1)] = 10000,
    environment: EnvironmentOption = "local",
    rotate_max_bytes: Annotated[int, typer.Option("--rotate-max-bytes", min=1024)] = 262144,
    retention_files: Annotated[int, typer.Option("--retention-files", min=1)] = 20,
) -> None:
    """Write records through the real writer with a small rotate size in a temporary directory."""
    from stratloop.acceptance.audit_drills import (  # noqa: PLC0415 - numpy; keep --help fast
        rotation_drill as drill,
    )
    from stratloop.config import snapshot  # noqa: PLC0415 - pydantic; keep --help fast
    from stratloop.environments import (  # noqa: PLC0415 - pydantic; keep --help fast
        load_environment,
    )

    config = load_environment(environment).load_config()
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
