"""The guide's Phase 4 "Test 1: Audit Logging": N real iterations give N audit records.

It runs a real run (factor graph, backtests, the audit trail at ``--output``)
with the environment's configuration, then checks the trail: exactly N records
of this run, every line parseable and valid, the guide's required fields
present, timestamps monotonic, a configuration snapshot in each record. When
the configuration asks an LLM, the run talks to a loopback scripted
OpenAI-compatible server serving valid specs, and the report says so.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stratloop.acceptance.llm_server import Reply, ScriptedOpenAIServer, scripted_specs
from stratloop.acceptance.results import CheckResult
from stratloop.audit import GUIDE_REQUIRED_FIELDS, is_iteration_record, iter_records, verify_trail
from stratloop.config import llm_required
from stratloop.config.models import StratloopConfig
from stratloop.errors import StratloopError
from stratloop.flags import FlagSource
from stratloop.loop.assemble import parts_factory
from stratloop.loop.rundir import new_run_id
from stratloop.loop.runner import LoopRunner, absolute_paths

__all__ = [
    "AuditLoggingReport",
    "check_trail",
    "report_rows",
    "run_audit_logging",
]


@dataclass(frozen=True, slots=True)
class AuditLoggingReport:
    """The run that was made and the checks of its audit records."""

    run_id: str
    run_status: str
    output: Path
    records: int
    checks: tuple[CheckResult, ...]
    llm_note: str | None

    @property
    def passed(self) -> bool:
        """True when every check passed."""
        return all(check.passed for check in self.checks)


def check_trail(path: Path, run_id: str, expected: int) -> tuple[int, tuple[CheckResult, ...]]:
    """Check the audit trail at ``path`` for the records of ``run_id``.

    Returns:
        The number of this run's records, and the checks.
    """
    report = verify_trail(path)
    breaks = report.breaks
    first = breaks[0] if breaks else None
    records = [
        r
        for _f, _l, r in iter_records(path)
        if r.get("run_id") == run_id and is_iteration_record(r)
    ]
    missing = [
        (r.get("iteration_num"), field)
        for r in records
        for field in GUIDE_REQUIRED_FIELDS
        if field not in r
    ]
    stamps = [str(r.get("timestamp", "")) for r in records]
    backwards = [i for i in range(1, len(stamps)) if stamps[i] < stamps[i - 1]]
    no_snapshot = [
        r.get("iteration_num")
        for r in records
        if not isinstance(r.get("config_snapshot"), dict) or not r["config_snapshot"]
    ]
    iterations = [r.get("iteration_num") for r in records]
    checks = (
        CheckResult(
            "record count",
            len(records) == expected,
            f"{len(records)} records of run {run_id}, expected {expected}",
        ),
        CheckResult(
            "one record per iteration",
            iterations == list(range(expected)),
            "iterations 0.." + str(expected - 1) + " in order"
            if iterations == list(range(expected))
            else f"iterations found: {iterations[:10]}{'...' if len(iterations) > 10 else ''}",
        ),
        CheckResult(
            "parseable and valid",
            first is None,
            f"{report.record_count} records parse, match the schema and chain"
            if first is None
            else str(first),
        ),
        CheckResult(
            "required fields",
            not missing,
            ", ".join(GUIDE_REQUIRED_FIELDS) if not missing else f"missing: {missing[:5]}",
        ),
        CheckResult(
            "timestamps monotonic",
            not backwards,
            "every timestamp >= the one before"
            if not backwards
            else f"record {backwards[0]} goes back in time",
        ),
        CheckResult(
            "config snapshot in each record",
            not no_snapshot,
            "present in every record" if not no_snapshot else f"missing in {no_snapshot[:5]}",
        ),
    )
    return len(records), checks


def run_audit_logging(
    load: Callable[[dict[str, Any]], StratloopConfig],
    flags: FlagSource,
    *,
    iterations: int,
    output: Path,
) -> AuditLoggingReport:
    """Run ``iterations`` real iterations with the audit trail at ``output``, then check it.

    Args:
        load: loads the effective configuration with the given overrides (dotted paths).
        flags: the flag source; Phase 4 must be in force.
        iterations: how many iterations to run.
        output: the audit trail file.

    Raises:
        StratloopError: Phase 4 is not in force, or the run failed.
    """
    active = flags.current()
    if not active.audit_trail:
        raise StratloopError(
            f"the audit trail (Phase 4) is not in force (effective phase {active.effective_phase} "
            f"from {active.source}); export ENABLE_GENERATION_REFACTORING=true, "
            "PHASE1..PHASE4 = true as the guide's Stage 1 does"
        )
    overrides: dict[str, Any] = {"loop.iterations": iterations, "audit.path": str(output)}
    config = load(overrides)
    server = None
    note = None
    if llm_required(config):
        server = ScriptedOpenAIServer(
            [Reply(text) for text in scripted_specs(iterations)], model=config.llm.model or "m"
        ).start()
        config = load({**overrides, "llm.base_url": server.base_url})
        note = (
            f"the configuration asks an LLM (innovation_rate {config.generation.innovation_rate:g}"
            f"%); its endpoint was replaced by a loopback scripted OpenAI-compatible server "
            f"({server.base_url}) serving valid strategy specs"
        )
    try:
        config = absolute_paths(config, Path.cwd())
        run_id = new_run_id()
        runner = LoopRunner.create(
            config,
            parts_factory(config, flags=flags, run_id=run_id, audit_path=output),
            run_id=run_id,
        )
        summary = runner.run()
    finally:
        if server is not None:
            server.stop()
    count, checks = check_trail(output, run_id, iterations)
    return AuditLoggingReport(run_id, summary.status, output, count, checks, note)


def report_rows(report: AuditLoggingReport) -> Sequence[tuple[str, str, str]]:
    """``(check, PASS/FAIL, detail)`` rows for a table."""
    return [(c.name, "PASS" if c.passed else "FAIL", c.detail) for c in report.checks]
