"""Verify a trail: schema, contiguous seqs, an intact hash chain, no violations.

Every line must parse and match the schema, seqs must be contiguous, the hash
chain must be intact across rotated files, and no record may violate its
configuration.

The first break is reported precisely (file, line, what is wrong); later
problems are listed too. A torn last line (an unterminated tail in the live
file, or one the writer moved aside at start) is reported separately and is
not a break: it is the trace of a crash, not a lost committed record.
Archives deleted by retention are accounted for by the retention log.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stratloop.audit._canonical import GENESIS_HASH, canonical_json, digest
from stratloop.audit._files import (
    TrailFiles,
    discover_trails,
    iter_lines,
    read_head,
    read_retention,
)
from stratloop.audit.record import schema_problem
from stratloop.audit.violations import (
    DEFAULT_ALPHA,
    ViolationReport,
    detect_violations,
)

__all__ = ["Break", "TrailReport", "VerifyReport", "iter_records", "verify_trail"]


@dataclass(frozen=True, slots=True)
class Break:
    """One place where the trail is not what the writer wrote."""

    path: Path
    line_no: int
    problem: str
    seq: int | None = None

    def __str__(self) -> str:
        where = f"{self.path}:{self.line_no}" if self.line_no else str(self.path)
        seq = f" (seq {self.seq})" if self.seq is not None else ""
        return f"{where}{seq}: {self.problem}"


@dataclass(frozen=True, slots=True)
class TrailReport:
    """The result for one trail (a live file and its archives)."""

    live: Path
    files: tuple[Path, ...]
    records: int
    first_seq: int | None
    last_seq: int | None
    breaks: tuple[Break, ...]
    torn: tuple[str, ...]
    retained_records: int = 0
    retention: tuple[str, ...] = ()

    @property
    def first_break(self) -> Break | None:
        """The earliest break, or None."""
        return self.breaks[0] if self.breaks else None


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """Every trail's chain check plus the violation check over all their records."""

    trails: tuple[TrailReport, ...]
    violations: ViolationReport
    records: tuple[Mapping[str, Any], ...] = field(default=(), repr=False)

    @property
    def breaks(self) -> tuple[Break, ...]:
        """All breaks of all trails."""
        return tuple(item for trail in self.trails for item in trail.breaks)

    @property
    def ok(self) -> bool:
        """True when no trail is broken and nothing violates its configuration."""
        return not self.breaks and self.violations.count == 0

    @property
    def record_count(self) -> int:
        """Records that parsed and matched the schema."""
        return sum(trail.records for trail in self.trails)


def iter_records(
    path: Path, *, newest_first: bool = False
) -> Iterator[tuple[Path, int, dict[str, Any]]]:
    """Every record that parses, in trail order: ``(file, line number, record)``.

    Unparsable lines are skipped here; :func:`verify_trail` reports them.

    Args:
        path: a live file, an archive, or a directory of trails.
        newest_first: visit each trail's files newest first (lines within a
            file stay in order), so a reader after the tail can stop early
            without decompressing every archive.
    """
    for trail in discover_trails(path):
        for file in reversed(trail.ordered) if newest_first else trail.ordered:
            for raw in iter_lines(file):
                if not raw.terminated:
                    continue
                try:
                    obj = json.loads(raw.text)
                except ValueError:
                    continue
                if isinstance(obj, dict):
                    yield file, raw.line_no, obj


def verify_trail(
    path: Path, *, alpha: float = DEFAULT_ALPHA, keep_records: bool = False
) -> VerifyReport:
    """Verify the trail at ``path`` (a live file, an archive, or a directory of trails).

    Args:
        path: the file or directory.
        alpha: significance level of the run-level LLM-share test.
        keep_records: also return every valid record (for reports).

    Raises:
        AuditFormatError: the path does not exist or holds no audit files.
    """
    checked: list[tuple[str, Mapping[str, Any]]] = []
    reports = tuple(_verify_one(trail, checked) for trail in discover_trails(path))
    violations = detect_violations(checked, alpha=alpha)
    kept = tuple(record for _, record in checked) if keep_records else ()
    return VerifyReport(reports, violations, kept)


class _Chain:
    """Walks one trail's lines in order and records every break."""

    def __init__(self, trail: TrailFiles) -> None:
        self.trail = trail
        self.breaks: list[Break] = []
        self.torn: list[str] = [
            f"{path}: a torn last line the writer moved aside at start "
            f"({path.stat().st_size} bytes)"
            for path in trail.torn_files
        ]
        self.expected: int | None = None
        self.prev_hash = GENESIS_HASH
        self.first_seq: int | None = None
        self.last: tuple[Path, int, int, str] | None = None
        self.records = 0
        self.hashes_at: dict[int, str] = {}
        self.retention = read_retention(trail.retention_log)
        head = read_head(trail.head)
        self.head = head

    def start(self, path: Path, line_no: int, record: dict[str, Any]) -> None:
        seq = record["seq"]
        self.first_seq = seq
        if seq == 0:
            if record["prev_hash"] != GENESIS_HASH:
                self.add(
                    path, line_no, "the first record (seq 0) must have the genesis prev_hash", seq
                )
            return
        covered = -1
        last_hash = GENESIS_HASH
        for entry in sorted(self.retention, key=lambda item: item["first_seq"]):
            if entry["first_seq"] != covered + 1:
                break
            covered, last_hash = entry["last_seq"], entry["last_hash"]
        if covered != seq - 1 or last_hash != record["prev_hash"]:
            self.add(
                path,
                line_no,
                f"the trail starts at seq {seq} but the retention log accounts only for seqs "
                f"before {covered + 1} with a matching hash: records 0..{seq - 1} are missing",
                seq,
            )

    def add(self, path: Path, line_no: int, problem: str, seq: int | None = None) -> None:
        self.breaks.append(Break(path, line_no, problem, seq))

    def check(self, path: Path, line_no: int, record: dict[str, Any]) -> bool:
        """Check one schema-valid record; True when it is intact (its hash is right)."""
        seq = record["seq"]
        body = {key: value for key, value in record.items() if key != "hash"}
        intact: bool = digest(canonical_json(body)) == record["hash"]
        if not intact:
            self.add(
                path, line_no, "hash mismatch: the record was edited after it was written", seq
            )
        if self.expected is None:
            self.start(path, line_no, record)
        elif seq != self.expected:
            kind = "missing" if seq > self.expected else "reordered or duplicated"
            self.add(
                path, line_no, f"seq {seq} where {self.expected} was expected (records {kind})", seq
            )
        elif record["prev_hash"] != self.prev_hash:
            self.add(
                path,
                line_no,
                "prev_hash does not match the previous record's hash (a record before it was "
                "removed, reordered or edited)",
                seq,
            )
        self.expected = seq + 1
        self.prev_hash = record["hash"]
        self.last = (path, line_no, seq, record["hash"])
        self.hashes_at[seq] = record["hash"]
        self.records += 1
        self._check_snapshot(path, line_no, record)
        return intact

    def _check_snapshot(self, path: Path, line_no: int, record: dict[str, Any]) -> None:
        actual = digest(canonical_json(record["config_snapshot"]))
        if actual != record["config_hash"]:
            self.add(
                path,
                line_no,
                f"config_hash {record['config_hash']} is not the sha256 of the recorded "
                f"snapshot ({actual})",
                record["seq"],
            )

    def finish(self) -> None:
        if self.head is None:
            return
        head_seq, head_hash = self.head
        last_seq = -1 if self.last is None else self.last[2]
        if head_seq > last_seq:
            self.add(
                self.trail.live,
                0,
                f"the head file says records up to seq {head_seq} were made durable but the "
                f"trail ends at seq {last_seq}: records at the end are missing",
            )
        elif self.hashes_at.get(head_seq, head_hash) != head_hash:
            self.add(
                self.trail.live,
                0,
                f"the record at seq {head_seq} does not have the hash the head file recorded",
                head_seq,
            )


def _verify_one(trail: TrailFiles, checked: list[tuple[str, Mapping[str, Any]]]) -> TrailReport:
    chain = _Chain(trail)
    files = trail.ordered
    for file in files:
        first_in_file = True
        for raw in iter_lines(file):
            if not raw.terminated:
                if file == trail.live:
                    chain.torn.append(
                        f"{file}:{raw.line_no}: torn last line ({len(raw.text)} bytes, a crash "
                        "mid-write); the writer moves it aside at its next start"
                    )
                else:
                    chain.add(file, raw.line_no, "unterminated line inside a rotated archive")
                continue
            try:
                record = json.loads(raw.text)
            except ValueError as exc:
                chain.add(file, raw.line_no, f"not JSON: {exc}")
                continue
            problem = schema_problem(record)
            if problem:
                chain.add(file, raw.line_no, f"not a valid record: {problem}")
                continue
            if first_in_file and file != trail.live:
                _check_archive_name(chain, file, raw.line_no, record["seq"])
            first_in_file = False
            if chain.check(file, raw.line_no, record):
                checked.append((f"{file}:{raw.line_no}", record))
    chain.finish()
    retained = sum(int(entry["records"]) for entry in chain.retention)
    return TrailReport(
        live=trail.live,
        files=files,
        records=chain.records,
        first_seq=chain.first_seq,
        last_seq=None if chain.last is None else chain.last[2],
        breaks=tuple(chain.breaks),
        torn=tuple(chain.torn),
        retained_records=retained,
        retention=tuple(
            f"{entry['file']}: seqs {entry['first_seq']}-{entry['last_seq']} "
            f"({entry['records']} records) deleted by {entry['reason']} at {entry['deleted_at']}"
            for entry in chain.retention
        ),
    )


def _check_archive_name(chain: _Chain, file: Path, line_no: int, seq: int) -> None:
    name_seq = int(file.name.split(".")[-3] if file.suffix == ".gz" else file.name.split(".")[-2])
    if name_seq != seq:
        chain.add(file, line_no, f"archive named for seq {name_seq} starts at seq {seq}", seq)
