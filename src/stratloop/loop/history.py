"""``history.jsonl``: one JSON line per committed iteration, append-only.

Lines are flushed to the OS as they are written and fsynced once per batch.
After a crash the last line may be torn (written in part); reading detects it,
:func:`cut_torn_tail` moves it aside and reports it, and the iteration is redone.
A bad line anywhere else is corruption and stops the run; :func:`plan_repair`
says which lines a repair keeps (``stratloop repair``).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Self

from stratloop.errors import RunError
from stratloop.iteration import IterationRecord
from stratloop.loop.rundir import storage_error

__all__ = [
    "DroppedLine",
    "HistoryRead",
    "HistoryRepair",
    "HistoryWriter",
    "TornTail",
    "cut_torn_tail",
    "iter_history",
    "plan_repair",
    "read_history",
]


@dataclass(frozen=True, slots=True)
class TornTail:
    """The unusable tail of a history file after a crash, as found (before it is moved aside).

    Not the audit trail's :class:`~stratloop.audit.writer.TornLine`, which
    reports a tail the trail has already moved aside when it opened.
    """

    offset: int
    """Byte offset where the torn tail starts (the file is good up to here)."""
    text: bytes
    """The torn bytes."""
    problem: str
    """Why it is unusable."""


@dataclass(frozen=True, slots=True)
class HistoryRead:
    """The committed records of a history file and its torn tail, if any."""

    records: tuple[IterationRecord, ...]
    torn: TornTail | None


def read_history(path: Path) -> HistoryRead:
    """Read ``history.jsonl``: every complete line must be a record, in iteration order.

    Raises:
        RunError: a line other than the last is unusable, or the iterations are
            not 0, 1, 2, ... in order.
    """
    records: list[IterationRecord] = []
    for item in _scan(path):
        if isinstance(item, TornTail):
            return HistoryRead(tuple(records), item)
        records.append(item)
    return HistoryRead(tuple(records), None)


def iter_history(path: Path) -> Iterator[IterationRecord]:
    """The committed records of ``history.jsonl`` one at a time, for reading a long run.

    Checked as :func:`read_history` checks them; a torn last line (a live run
    writing it) is not a committed record and is not yielded.

    Raises:
        RunError: as :func:`read_history`.
    """
    for item in _scan(path):
        if isinstance(item, TornTail):
            return
        yield item


def _scan(path: Path) -> Iterator[IterationRecord | TornTail]:
    """Each record in order, then the torn tail if the file has one."""
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        return
    with handle:
        offset, number = 0, 0
        line = handle.readline()
        while line:
            number += 1
            following = handle.readline()
            complete = line.endswith(b"\n")
            record, problem = _parse(line[:-1] if complete else line, complete=complete)
            if record is not None:
                if record.iteration_num != number - 1:
                    raise RunError(
                        f"{path} line {number} holds iteration {record.iteration_num!r} "
                        f"but iteration {number - 1} was expected; the history is inconsistent"
                    )
                yield record
            elif not following:
                yield TornTail(offset, line, problem)
                return
            else:
                raise RunError(
                    f"{path} line {number} is corrupt ({problem}); the history is damaged"
                )
            offset += len(line)
            line = following


def _parse(raw: bytes, *, complete: bool) -> tuple[IterationRecord | None, str]:
    """The record on one line, or None and why the line is unusable."""
    if not complete:
        return None, "the last line has no newline: it was being written when the process stopped"
    try:
        data = json.loads(raw)
    except ValueError as exc:
        return None, f"not valid JSON: {exc}"
    if not isinstance(data, dict):
        return None, "not a history record (not a JSON object)"
    try:
        return IterationRecord.from_dict(data), ""
    except RunError as exc:
        return None, str(exc)


def cut_torn_tail(path: Path, torn: TornTail) -> Path:
    """Move a torn tail aside into ``<name>.torn-<offset>`` and truncate the file before it.

    Returns:
        The path of the file holding the torn bytes, for the report.

    Raises:
        RunStorageError: the tail could not be moved (disk full, read-only).
    """
    aside = path.with_name(f"{path.name}.torn-{torn.offset}")
    try:
        with aside.open("wb") as handle:
            handle.write(torn.text)
            handle.flush()
            os.fsync(handle.fileno())
        with path.open("r+b") as handle:
            handle.truncate(torn.offset)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as exc:
        raise storage_error(path, exc, "move the torn last line aside in") from exc
    return aside


@dataclass(frozen=True, slots=True)
class DroppedLine:
    """A line of ``history.jsonl`` a repair does not keep, and why."""

    line: int
    """1-based line number in the damaged file."""
    iteration: int | None
    """The iteration the line holds, when it holds a readable record."""
    reason: str
    text: bytes


@dataclass(frozen=True, slots=True)
class HistoryRepair:
    """What a repair of ``history.jsonl`` keeps and drops; nothing is renumbered.

    The kept lines are the valid records that continue the sequence 0, 1, 2, ...
    in file order: the first valid record of each iteration wins, every other
    line is dropped with its reason.
    """

    kept: tuple[bytes, ...]
    """The kept lines, byte for byte as they were (with their newline)."""
    records: tuple[IterationRecord, ...]
    dropped: tuple[DroppedLine, ...]


def plan_repair(path: Path) -> HistoryRepair:
    """Sort the lines of a possibly damaged ``history.jsonl`` into kept and dropped.

    Torn lines, lines that are not records, duplicates of an iteration already
    kept, and iterations out of sequence (interleaved by a second writer, or
    after a gap) are dropped. Reading stops at nothing: every line is judged.
    """
    kept: list[bytes] = []
    records: list[IterationRecord] = []
    dropped: list[DroppedLine] = []
    seen: dict[int, int] = {}
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            complete = line.endswith(b"\n")
            record, problem = _parse(line[:-1] if complete else line, complete=complete)
            if record is None:
                dropped.append(DroppedLine(number, None, problem, line))
                continue
            iteration = record.iteration_num
            expected = len(records)
            if iteration == expected:
                seen[iteration] = number
                kept.append(line)
                records.append(record)
                continue
            if iteration in seen:
                reason = f"a second record of iteration {iteration} (kept: line {seen[iteration]})"
            elif iteration > expected:
                reason = (
                    f"iteration {iteration} out of sequence: iteration {expected} was expected "
                    "next and never appears before it"
                )
            else:
                reason = f"iteration {iteration} out of sequence"
            dropped.append(DroppedLine(number, iteration, reason, line))
    return HistoryRepair(tuple(kept), tuple(records), tuple(dropped))


class HistoryWriter:
    """Appends lines to ``history.jsonl``; each line reaches the OS at once, :meth:`sync` fsyncs.

    Writes go through the run lock's descriptor of the file (see
    :class:`~stratloop.loop.runlock.RunLock`), so the lines land in the very file
    that is locked. A write that fails part-way is cut off again, so the file
    never ends in a partial line; the writer is unusable from then on.

    Args:
        path: the history file; created if missing, appended to otherwise.
        fd: an append-mode descriptor of it, the run lock's (duplicated: the
            caller keeps its own); default: the file is opened here.
    """

    def __init__(self, path: Path, fd: int | None = None) -> None:
        self._path = path
        try:
            self._fd = (
                os.dup(fd)
                if fd is not None
                else os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
            )
        except OSError as exc:
            raise storage_error(path, exc, "open") from exc
        self._size = os.fstat(self._fd).st_size
        self._failed = False

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def append(self, record: IterationRecord) -> None:
        """Write one record's line to the OS.

        Raises:
            RunStorageError: the line could not be written (disk full, read-only).
        """
        if self._failed:
            raise RunError(f"{self._path}: an earlier write failed; nothing more is appended")
        line = (record.to_json() + "\n").encode()
        view = memoryview(line)
        try:
            while view:
                view = view[os.write(self._fd, view) :]
        except OSError as exc:
            self._failed = True
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, self._size)
            raise storage_error(
                self._path, exc, f"append iteration {record.iteration_num} to"
            ) from exc
        self._size += len(line)

    def sync(self) -> None:
        """Make every appended line durable (one fsync; called once per batch)."""
        try:
            os.fsync(self._fd)
        except OSError as exc:
            self._failed = True
            raise storage_error(self._path, exc, "make durable") from exc

    def close(self) -> None:
        """Sync (unless a write failed) and close the file."""
        if self._fd < 0:
            return
        try:
            if not self._failed:
                self.sync()
        finally:
            os.close(self._fd)
            self._fd = -1
