"""The chain check of one trail, fed the trail's lines as they are read.

:func:`~stratloop.audit.verify.verify_trail` feeds every file whole, once;
:class:`~stratloop.audit.follow.TrailFollower` feeds only what was appended
since its last refresh. Both go through :class:`TrailWalk`, so both reach the
same verdict. The walk keeps aggregates, never the records: counts, the chain
head, the breaks found, and the hashes of records the head file may still
name.

A break is stored against its :class:`FileState`, not a path, and becomes a
:class:`~stratloop.audit.verify.Break` only when a report is built: when the
writer rotates the live file into an archive, the breaks found in it move
with it, and an archive's name is checked against its first record once it
is an archive, just as a full verify of the rotated trail would.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeAlias

from stratloop.audit._canonical import GENESIS_HASH, canonical_json, digest
from stratloop.audit._checkpoints import Checkpoint, checkpoint_of
from stratloop.audit._files import TrailFiles, archive_seq
from stratloop.audit._keys import Keyring, entry_problem
from stratloop.audit._snapshots import SnapshotRefs, referenced_hash
from stratloop.audit.record import schema_problem

# The running per-segment counts behind detect_violations' share tests: one
# definition of what a trial is, shared with the module that owns it.
from stratloop.audit.violations import (
    RecordViolation,
    ViolationReport,
    _Segments,
    detect_violations,
)
from stratloop.errors import AuditFormatError

__all__ = [
    "Break",
    "FileState",
    "RecordSink",
    "Tally",
    "TrailReport",
    "TrailWalk",
]

RecordSink: TypeAlias = Callable[[Mapping[str, Any]], None]
"""Receives each intact record as it is verified."""

_BATCH = 1024
"""Records per call of the violation checker (bounds what a walk holds at once)."""


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
    mode: str = "SHA-256 (unkeyed)"
    """Which chain was checked: HMAC with which keys, SHA-256, or linkage only."""
    unauthenticated: int = 0
    """HMAC-signed records whose hash could not be checked because no key was given."""
    last_checkpoint: Checkpoint | None = None
    """The last valid checkpoint of the trail's checkpoint log."""
    unanchored: int = 0
    """Records after the last checkpoint (all records when there is none)."""
    not_durable: int = field(default=0, compare=False)
    """Records after the seq the head file names (written, not yet made durable when read)."""

    @property
    def first_break(self) -> Break | None:
        """The earliest break, or None."""
        return self.breaks[0] if self.breaks else None


@dataclass(eq=False, slots=True)
class FileState:
    """How far one file of a trail has been verified.

    Args:
        path: the file's name now (it changes when the live file is rotated).
        final: an archive, never appended to again (the live file is not final).
        consumed: bytes of content verified (decompressed), always whole lines,
            except that a final file is consumed to its end.
        lines: lines verified.
        tail: bytes of an unterminated last line of the live file, not yet verified.
        digest: sha256 of the consumed bytes, to recognise them later.
        first_record: ``(break index, line, seq)`` of the file's first valid record.
        refs: the full snapshots seen in the file, to resolve references.
    """

    path: Path
    final: bool = False
    consumed: int = 0
    lines: int = 0
    tail: int = 0
    digest: Any = field(default_factory=hashlib.sha256)
    first_record: tuple[int, int, int] | None = None
    refs: SnapshotRefs = field(default_factory=SnapshotRefs)


class Tally:
    """Violations of every record verified, checked in batches, and their segment counts.

    Args:
        sink: receives each intact record as it is verified, or None.
    """

    def __init__(self, sink: RecordSink | None = None) -> None:
        self.sink = sink
        self._pending: list[tuple[FileState, int, Mapping[str, Any]]] = []
        self._found: list[tuple[FileState, int, RecordViolation]] = []
        self._segments = _Segments()

    def add(self, file: FileState, line_no: int, record: Mapping[str, Any]) -> None:
        """Count one intact record found at ``file``:``line_no``."""
        self._segments.add(record)
        self._pending.append((file, line_no, record))
        if self.sink is not None:
            self.sink(record)
        if len(self._pending) >= _BATCH:
            self._flush()

    def _flush(self) -> None:
        pending = self._pending
        if not pending:
            return
        checked = detect_violations((str(i), record) for i, (_, _, record) in enumerate(pending))
        for violation in checked.records:
            file, line_no, _ = pending[int(violation.where)]
            self._found.append((file, line_no, violation))
        self._pending = []

    def report(self, alpha: float) -> ViolationReport:
        """Every record violation so far (located in the files as named now) and the share tests."""
        self._flush()
        return ViolationReport(
            tuple(
                replace(violation, where=f"{file.path}:{line_no}")
                for file, line_no, violation in self._found
            ),
            self._segments.tests(alpha),
        )


class TrailWalk:
    """Walks one trail's lines in order, file by file, and records every break.

    Args:
        live: the trail's live file.
        tally: where intact records are counted (shared by the trails of one verify).
        keyring: the keys of a keyed trail; None checks SHA-256 records and only the
            linkage of HMAC-signed ones.
    """

    def __init__(self, live: Path, tally: Tally, keyring: Keyring | None = None) -> None:
        self.live = live
        self.tally = tally
        self.keyring = keyring
        self.files: list[FileState] = []
        self.records = 0
        self.first_seq: int | None = None
        self.last_seq: int | None = None
        self.head: tuple[int, str] | None = None
        self.retention: list[dict[str, Any]] = []
        self._found: list[tuple[FileState, int, str, int | None]] = []
        self._expected: int | None = None
        self._prev_hash = GENESIS_HASH
        self._hashes: dict[int, str] = {}
        self._floor: int | None = None
        self._key_id: str | None = None
        self._signed = 0
        self._unsigned = 0
        self._unauthenticated = 0
        self._log_problems: list[Break] = []
        self._checkpoints: list[Checkpoint] = []
        self._checkpoint_seqs: frozenset[int] = frozenset()
        self._checkpoint_hashes: dict[int, str] = {}
        self._rotations: dict[int, dict[str, Any]] = {}
        self._keyed_from: int | None = None

    def observe(
        self,
        head: tuple[int, str] | None,
        retention: list[dict[str, Any]],
        checkpoints: Sequence[Mapping[str, Any]] = (),
        checkpoint_log: Path | None = None,
    ) -> None:
        """Take the head file, the retention log and the checkpoint log before the lines are read.

        The head file names a durable seq; only hashes from that seq on are kept
        (the writer only ever moves it forward), so memory stays bounded by the
        records not yet durable. With a keyring, every retention, checkpoint and
        key-rotation entry must carry a valid signature; one that does not is a
        break and is otherwise ignored.
        """
        self.head = head
        self._log_problems = []
        self._read_checkpoints(checkpoints, checkpoint_log or self.live)
        self.retention = self._signed_retention(retention)
        if head is not None and (self._floor is None or head[0] > self._floor):
            self._floor = head[0]
            self._hashes = {seq: h for seq, h in self._hashes.items() if seq >= head[0]}

    @property
    def floor(self) -> int | None:
        """The lowest seq whose hash is still kept (None: every hash is kept)."""
        return self._floor

    def _read_checkpoints(self, entries: Sequence[Mapping[str, Any]], log: Path) -> None:
        """Take the checkpoints and key rotations to trust (see :meth:`_trusted`)."""
        self._checkpoints = []
        self._rotations = {
            int(entry["seq"]): dict(entry)
            for entry in entries
            if entry.get("kind") == "key_rotation"
            and (self.keyring is None or entry_problem(entry, self.keyring) is None)
        }
        introductions = [
            seq for seq, entry in self._rotations.items() if entry.get("from_key_id") is None
        ]
        self._keyed_from = min(introductions) if introductions else None
        for number, entry in enumerate(entries, start=1):
            problem = self._untrusted(entry, "seq")
            if problem is not None:
                self._log_problems.append(
                    Break(log, number, f"{entry.get('kind', 'entry')} entry: {problem}")
                )
            elif entry.get("kind") == "checkpoint":
                try:
                    self._checkpoints.append(checkpoint_of(entry))
                except AuditFormatError as exc:
                    self._log_problems.append(Break(log, number, str(exc)))
        self._checkpoint_seqs = frozenset(checkpoint.seq for checkpoint in self._checkpoints)

    def _untrusted(self, entry: Mapping[str, Any], seq_field: str) -> str | None:
        """Why a log entry cannot be trusted, or None.

        Without a keyring every entry is taken as it is. With one, an entry
        must be validly signed, except an unsigned one about records from
        before the key was introduced (a signed rotation from no key).
        """
        if self.keyring is None:
            return None
        problem = entry_problem(entry, self.keyring)
        if problem is None:
            return None
        seq = entry.get(seq_field)
        pre_key = (
            entry.get("key_id") is None
            and entry.get("kind") != "key_rotation"
            and self._keyed_from is not None
            and isinstance(seq, int)
            and seq < self._keyed_from
        )
        return None if pre_key else problem

    def _signed_retention(self, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The retention entries to trust (see :meth:`_untrusted`); the others are breaks."""
        log = TrailFiles(self.live, ()).retention_log
        trusted = []
        for number, entry in enumerate(entries, start=1):
            problem = self._untrusted(entry, "last_seq")
            if problem is None:
                trusted.append(entry)
            else:
                self._log_problems.append(Break(log, number, f"retention entry: {problem}"))
        return trusted

    def feed(self, file: FileState, data: bytes | memoryview, *, final: bool) -> None:
        """Verify the complete lines of ``data``, the content of ``file`` from ``file.consumed`` on.

        An unterminated last line of the live file stays unverified (a torn
        line, or one being written); in an archive it is a break.
        """
        parts = bytes(data).split(b"\n")
        tail = parts.pop()
        for text in parts:
            file.lines += 1
            self._line(file, file.lines, text)
        used = len(data) - len(tail)
        if final and tail:
            file.lines += 1
            self._add(file, file.lines, "unterminated line inside a rotated archive")
            used, tail = len(data), b""
        file.digest.update(memoryview(data)[:used])
        file.consumed += used
        file.tail = len(tail)
        file.final = final

    def _line(self, file: FileState, line_no: int, text: bytes) -> None:
        try:
            record = json.loads(text)
        except ValueError as exc:
            self._add(file, line_no, f"not JSON: {exc}")
            return
        problem = schema_problem(record)
        if problem:
            self._add(file, line_no, f"not a valid record: {problem}")
            return
        if file.first_record is None:
            file.first_record = (len(self._found), line_no, record["seq"])
        intact = self._check(file, line_no, record)
        resolved = self._snapshot(file, line_no, record)
        if intact and resolved is not None:
            self.tally.add(file, line_no, resolved)

    def _snapshot(
        self, file: FileState, line_no: int, record: dict[str, Any]
    ) -> Mapping[str, Any] | None:
        """The record with its snapshot resolved, after checking the snapshot against its hash."""
        seq = record["seq"]
        ref = referenced_hash(record["config_snapshot"])
        if ref is None:
            actual = digest(canonical_json(record["config_snapshot"]))
            if actual != record["config_hash"]:
                self._add(
                    file,
                    line_no,
                    f"config_hash {record['config_hash']} is not the sha256 of the recorded "
                    f"snapshot ({actual})",
                    seq,
                )
                return None
        elif ref != record["config_hash"]:
            self._add(
                file,
                line_no,
                f"the snapshot reference {ref} is not the record's config_hash "
                f"{record['config_hash']}",
                seq,
            )
            return None
        resolved = file.refs.resolve(record)
        if resolved is None:
            self._add(
                file,
                line_no,
                f"the snapshot reference {ref} names no full snapshot earlier in this file",
                seq,
            )
        return resolved

    def _add(self, file: FileState, line_no: int, problem: str, seq: int | None = None) -> None:
        self._found.append((file, line_no, problem, seq))

    def _check(self, file: FileState, line_no: int, record: dict[str, Any]) -> bool:
        """Check one schema-valid record; True when it is intact (its hash is right)."""
        seq = record["seq"]
        intact = self._authentic(file, line_no, record)
        if self._expected is None:
            self._start(file, line_no, record)
        elif seq != self._expected:
            kind = "missing" if seq > self._expected else "reordered or duplicated"
            self._add(
                file,
                line_no,
                f"seq {seq} where {self._expected} was expected (records {kind})",
                seq,
            )
        elif record["prev_hash"] != self._prev_hash:
            self._add(
                file,
                line_no,
                "prev_hash does not match the previous record's hash (a record before it was "
                "removed, reordered or edited)",
                seq,
            )
        self._expected = seq + 1
        self._prev_hash = record["hash"]
        self.last_seq = seq
        if self._floor is None or seq >= self._floor:
            self._hashes[seq] = record["hash"]
        if seq in self._checkpoint_seqs:
            self._checkpoint_hashes[seq] = record["hash"]
        self.records += 1
        return intact

    def _authentic(self, file: FileState, line_no: int, record: dict[str, Any]) -> bool:
        """Check the record's hash: HMAC under its key, SHA-256 when unsigned.

        Without a keyring an HMAC-signed record's hash cannot be recomputed;
        it is counted as unauthenticated and only its linkage is checked.
        """
        seq = record["seq"]
        key_id = record.get("key_id")
        body = {name: value for name, value in record.items() if name != "hash"}
        text = canonical_json(body).encode()
        if key_id is None:
            self._unsigned += 1
            if self.keyring is not None and self._key_id is not None:
                self._add(
                    file,
                    line_no,
                    f"an unsigned record after records signed by key {self._key_id}: a keyed "
                    "trail never goes back to unsigned records (rewritten without the key?)",
                    seq,
                )
            self._key_id = None
            expected: str | None = hashlib.sha256(text).hexdigest()
        elif self.keyring is None:
            self._unauthenticated += 1
            self._key_id = key_id
            return True
        else:
            self._signed += 1
            self._rotation(file, line_no, record)
            self._key_id = key_id
            key = self.keyring.get(key_id)
            if key is None:
                self._add(
                    file,
                    line_no,
                    f"signed by key {key_id!r}, which the keyring ({self.keyring.source}) does "
                    "not hold; add the trail's key (retired keys before the signing key)",
                    seq,
                )
                return False
            mac = key.hasher()
            mac.update(text)
            expected = mac.hexdigest()
        if expected == record["hash"]:
            return True
        self._add(
            file,
            line_no,
            "hash mismatch: the record was edited after it was written"
            + ("" if key_id is None else f" (HMAC under key {key_id})"),
            seq,
        )
        return False

    def _rotation(self, file: FileState, line_no: int, record: dict[str, Any]) -> None:
        """A change of signing key (or a first key after unsigned records) needs a rotation."""
        key_id = record["key_id"]
        if self._expected is None or key_id == self._key_id:
            return
        seq = record["seq"]
        entry = self._rotations.get(seq)
        if (
            entry is None
            or entry.get("from_key_id") != self._key_id
            or entry.get("to_key_id") != key_id
            or entry.get("prev_hash") != record["prev_hash"]
        ):
            self._add(
                file,
                line_no,
                f"the signing key changes from {self._key_id or 'none'} to {key_id} here but the "
                "checkpoint log holds no signed key rotation for this seq",
                seq,
            )
            return
        old = (
            None if self._key_id is None or self.keyring is None else self.keyring.get(self._key_id)
        )
        if old is not None and not old.signed(
            {k: v for k, v in entry.items() if k not in ("sig", "sig_from")}, entry.get("sig_from")
        ):
            self._add(
                file,
                line_no,
                f"the key rotation at seq {seq} is not signed by the previous key {self._key_id}",
                seq,
            )

    def _start(self, file: FileState, line_no: int, record: dict[str, Any]) -> None:
        seq = record["seq"]
        self.first_seq = seq
        if seq == 0:
            if record["prev_hash"] != GENESIS_HASH:
                self._add(
                    file, line_no, "the first record (seq 0) must have the genesis prev_hash", seq
                )
            return
        covered = -1
        last_hash = GENESIS_HASH
        for entry in sorted(self.retention, key=lambda item: item["first_seq"]):
            if entry["first_seq"] != covered + 1:
                break
            covered, last_hash = entry["last_seq"], entry["last_hash"]
        if covered != seq - 1 or last_hash != record["prev_hash"]:
            self._add(
                file,
                line_no,
                f"the trail starts at seq {seq} but the retention log accounts only for seqs "
                f"before {covered + 1} with a matching hash: records 0..{seq - 1} are missing",
                seq,
            )

    def report(self, torn_files: Sequence[Path]) -> TrailReport:
        """The trail's result now, with its files as they are named now.

        Args:
            torn_files: the torn tails the writer moved aside, as listed before the lines were read.
        """
        torn = [
            f"{path}: a torn last line the writer moved aside at start "
            f"({path.stat().st_size} bytes)"
            for path in torn_files
        ]
        torn += [
            f"{file.path}:{file.lines + 1}: torn last line ({file.tail} bytes, a crash "
            "mid-write); the writer moves it aside at its next start"
            for file in self.files
            if not file.final and file.tail
        ]
        last = self._checkpoints[-1] if self._checkpoints else None
        last_seq = -1 if self.last_seq is None else self.last_seq
        return TrailReport(
            live=self.live,
            files=tuple(file.path for file in self.files),
            records=self.records,
            first_seq=self.first_seq,
            last_seq=self.last_seq,
            breaks=(
                *self._log_problems,
                *self._breaks(),
                *self._head_breaks(),
                *self._checkpoint_breaks(),
                *self._keyed_breaks(),
            ),
            torn=tuple(torn),
            mode=self._mode(),
            unauthenticated=self._unauthenticated,
            last_checkpoint=last,
            unanchored=self.records if last is None else max(0, last_seq - last.seq),
            not_durable=0 if self.head is None else max(0, last_seq - self.head[0]),
            retained_records=sum(int(entry["records"]) for entry in self.retention),
            retention=tuple(
                f"{entry['file']}: seqs {entry['first_seq']}-{entry['last_seq']} "
                f"({entry['records']} records) deleted by {entry['reason']} at "
                f"{entry['deleted_at']}"
                for entry in self.retention
            ),
        )

    def _breaks(self) -> Iterable[Break]:
        """The breaks in file order, each archive's name check before its first record's."""
        names: dict[int, list[Break]] = {}
        for file in self.files:
            if file.final and file.first_record is not None:
                index, line_no, seq = file.first_record
                named = archive_seq(file.path)
                if named != seq:
                    names.setdefault(index, []).append(
                        Break(
                            file.path,
                            line_no,
                            f"archive named for seq {named} starts at seq {seq}",
                            seq,
                        )
                    )
        for index, (file, line_no, problem, found_seq) in enumerate(self._found):
            yield from names.get(index, ())
            yield Break(file.path, line_no, problem, found_seq)
        yield from names.get(len(self._found), ())

    def _mode(self) -> str:
        if self.keyring is not None:
            mode = (
                f"HMAC-SHA256 with key(s) {', '.join(self.keyring.ids)} from "
                f"{self.keyring.source}: {self._signed} signed record(s)"
            )
            if self._unsigned:
                mode += f", {self._unsigned} unsigned (SHA-256) from before the key"
            return mode
        if self._unauthenticated:
            return (
                f"linkage only: {self._unauthenticated} record(s) are HMAC-signed and no key was "
                "given, so their hashes were not checked (pass --key-file or --key-env)"
            )
        return "SHA-256 (unkeyed): a consistent rewrite of the whole chain is not detectable"

    def _keyed_breaks(self) -> tuple[Break, ...]:
        """Verified with a key, a trail with records must have signed ones."""
        if self.keyring is None or not self.records or self._signed:
            return ()
        if self._keyed_from is not None and self._keyed_from > (self.last_seq or 0):
            return ()  # the key was introduced and no record was written since
        return (
            Break(
                self.live,
                0,
                f"verified with a key but none of the {self.records} records is signed: the "
                "trail was written without the key (or rewritten by someone without it)",
            ),
        )

    def _checkpoint_breaks(self) -> Iterable[Break]:
        """Every checkpoint must name a record the trail still holds, with the same hash."""
        log = TrailFiles(self.live, ()).checkpoints
        last_seq = -1 if self.last_seq is None else self.last_seq
        for checkpoint in self._checkpoints:
            if checkpoint.seq > last_seq:
                yield Break(
                    log,
                    0,
                    f"the checkpoint of {checkpoint.time} says records up to seq {checkpoint.seq} "
                    f"were durable but the trail ends at seq {last_seq}: records at the end were "
                    "removed",
                )
                continue
            found = self._checkpoint_hashes.get(checkpoint.seq) or self._hashes.get(checkpoint.seq)
            if found is not None and found != checkpoint.hash:
                yield Break(
                    log,
                    0,
                    f"the record at seq {checkpoint.seq} does not have the hash the checkpoint "
                    f"of {checkpoint.time} recorded: the trail was rewritten",
                    checkpoint.seq,
                )

    def _head_breaks(self) -> tuple[Break, ...]:
        if self.head is None:
            return ()
        head_seq, head_hash = self.head
        last_seq = -1 if self.last_seq is None else self.last_seq
        if head_seq > last_seq:
            return (
                Break(
                    self.live,
                    0,
                    f"the head file says records up to seq {head_seq} were made durable but the "
                    f"trail ends at seq {last_seq}: records at the end are missing",
                ),
            )
        if self._hashes.get(head_seq, head_hash) != head_hash:
            return (
                Break(
                    self.live,
                    0,
                    f"the record at seq {head_seq} does not have the hash the head file recorded",
                    head_seq,
                ),
            )
        return ()


