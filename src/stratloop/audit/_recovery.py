"""What a trail finds when it opens: interrupted compressions, a torn tail, the chain head.

A crash mid-write leaves an unterminated last line; it is moved aside to
``NAME.jsonl.<UTC stamp>.torn`` and reported, and the chain continues from
the last complete record (of the live file, else of the newest archive,
else of the retention log). Only the edge lines of the live file are
parsed, so opening scans it once however long it is.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stratloop._fsync import write_synced
from stratloop.audit._files import TrailFiles, read_content, read_retention
from stratloop.audit._rotation import finish_compressions
from stratloop.audit._write_error import write_error
from stratloop.audit.processors import Clock, format_timestamp
from stratloop.audit.record import schema_problem
from stratloop.errors import AuditFormatError

__all__ = ["Recovered", "RecoveryReport", "TornLine", "recover"]


@dataclass(frozen=True, slots=True)
class TornLine:
    """An unterminated last line found at start and moved aside."""

    path: Path
    offset: int
    size: int
    moved_to: Path

    def __str__(self) -> str:
        return (
            f"torn last line in {self.path} at byte {self.offset} ({self.size} bytes, a crash "
            f"mid-write) moved to {self.moved_to}; the chain continues from the last "
            "complete record"
        )


@dataclass(frozen=True, slots=True)
class RecoveryReport:
    """What the trail found and did when it opened."""

    torn: TornLine | None
    resumed_seq: int
    recompressed: tuple[Path, ...] = ()

    def messages(self) -> tuple[str, ...]:
        """Lines for the operator; empty when the trail opened cleanly."""
        lines = [str(self.torn)] if self.torn else []
        lines += [f"finished an interrupted compression of {path}" for path in self.recompressed]
        return tuple(lines)


@dataclass(frozen=True, slots=True)
class Recovered:
    """Where the trail continues from.

    ``head`` is ``(seq, hash)`` of the last complete record anywhere in the
    trail (None for a new trail); ``live_first`` is ``(seq, timestamp)`` of
    the live file's first record (None when the live file has none);
    ``key_id`` is the id of the key that signed the last record (None when
    it is unsigned or there is none).
    """

    report: RecoveryReport
    head: tuple[int, str] | None
    live_first: tuple[int, str] | None
    key_id: str | None = None


def recover(path: Path, clock: Clock, *, compress: bool) -> Recovered:
    """Bring the trail of live file ``path`` to a clean state and find its head.

    Raises:
        AuditWriteError: a file could not be read, moved aside or compressed.
        AuditFormatError: the last complete record is not a valid record.
    """
    recompressed = finish_compressions(path) if compress else ()
    data = _read_live(path)
    torn = _move_torn_tail(path, data, clock)
    first, last = _first_and_last(path, data)
    if last is None:
        last = _last_archived(path)
    head = None if last is None else (last["seq"], last["hash"])
    live_first = None if first is None else (first["seq"], first["timestamp"])
    resumed = -1 if head is None else head[0]
    key_id = None if last is None else last.get("key_id")
    return Recovered(RecoveryReport(torn, resumed + 1, recompressed), head, live_first, key_id)


def _read_live(path: Path) -> bytes:
    """The live file as it is at open (empty when there is none), read once for recovery."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return b""
    except OSError as exc:
        raise write_error(path, exc, "read the audit trail") from exc


def _move_torn_tail(path: Path, data: bytes, clock: Clock) -> TornLine | None:
    """Move an unterminated last line of the live file (``data``) aside."""
    end = data.rfind(b"\n") + 1
    if end == len(data):
        return None
    stamp = format_timestamp(clock()).replace(":", "").replace("-", "")
    moved_to = path.with_name(f"{path.name}.{stamp}.torn")
    try:
        write_synced(moved_to, data[end:])
        with path.open("r+b") as handle:
            handle.truncate(end)
            os.fsync(handle.fileno())
    except OSError as exc:
        raise write_error(path, exc, "move a torn last line aside") from exc
    return TornLine(path, end, len(data) - end, moved_to)


def _last_archived(path: Path) -> dict[str, Any] | None:
    """The last record of the newest archive, else the last one retention logged as deleted."""
    files = TrailFiles.of(path)
    if files.archives:
        archive = files.archives[-1]
        return _first_and_last(archive, read_content(archive))[1]
    entries = read_retention(files.retention_log)
    if entries:
        last = max(entries, key=lambda entry: entry["last_seq"])
        return {"seq": last["last_seq"], "hash": last["last_hash"], "key_id": last.get("key_id")}
    return None


def _first_and_last(path: Path, data: bytes) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """The first and last complete records of ``data`` (the lines of ``path``), schema-checked.

    Only the two edge lines are parsed: recovery scans the live file once, however long it is.
    """
    edges = _edge_lines(data)
    if edges is None:
        return None, None
    first, last = (_parse_edge(path, line_no, text) for line_no, text in edges)
    return first, last


def _edge_lines(data: bytes) -> tuple[tuple[int, bytes], tuple[int, bytes]] | None:
    """``(line number, text)`` of the first and last non-blank terminated lines, or None."""
    end = data.rfind(b"\n")
    start, number = 0, 1
    while start <= end:
        stop = data.index(b"\n", start)
        if data[start:stop].strip():
            first = (number, data[start:stop])
            break
        start, number = stop + 1, number + 1
    else:
        return None
    stop = end
    while True:
        start = data.rfind(b"\n", 0, stop) + 1
        if data[start:stop].strip():
            return first, (data.count(b"\n", 0, start) + 1, data[start:stop])
        stop = start - 1


def _parse_edge(path: Path, line_no: int, text: bytes) -> dict[str, Any]:
    try:
        obj = json.loads(text)
    except ValueError as exc:
        raise AuditFormatError(
            f"{path}:{line_no}: the trail's record is not JSON ({exc}); run "
            "`stratloop audit verify` and move the damaged file aside before writing again"
        ) from exc
    problem = schema_problem(obj)
    if problem:
        raise AuditFormatError(
            f"{path}:{line_no}: the trail's record is invalid ({problem}); run "
            "`stratloop audit verify` and move the damaged file aside before writing again"
        )
    result: dict[str, Any] = obj
    return result
