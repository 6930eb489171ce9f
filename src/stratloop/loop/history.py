"""A run's history: one JSON line per committed iteration, append-only, in segments.

The live file ``history.jsonl`` takes the lines; lines are flushed to the OS as
they are written and fsynced once per batch. When it holds
:data:`SEGMENT_BYTES` or more at a batch boundary, its lines are compressed
into a closed segment ``history.<first>-<last>.jsonl.xz`` (the first and last
iteration it holds, nine digits or more) and the live file is emptied in
place: the run lock is held on its inode (:mod:`stratloop.loop.runlock`), so
it is never renamed or replaced. The order makes every crash harmless: the
segment is written under a temporary name, synced and renamed, and only then
is the live file truncated; a crash in between leaves the live file holding
lines a segment already holds, and every reader skips that covered prefix
(the next rotation skips it too). A run written before segments existed is
the live file alone, and reads and resumes as it always did.

Every reader goes through this module (:func:`read_history`,
:func:`iter_history`, :func:`count_committed`, :func:`plan_repair`), which
reads the segments in order and then the live file; a rotation that happens
while a reader reads is noticed (the live file no longer continues the
segments it listed) and the reader lists the segments again.

After a crash the last line may be torn (written in part); reading detects it,
:func:`cut_torn_tail` moves it aside and reports it, and the iteration is redone.
A bad line anywhere else is corruption and stops the run; :func:`plan_repair`
says which lines a repair keeps (``stratloop repair``).
"""

from __future__ import annotations

import contextlib
import gzip
import itertools
import json
import lzma
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Self, cast

from stratloop._fsync import fsync_dir
from stratloop.errors import RunError
from stratloop.iteration import IterationRecord
from stratloop.loop.rundir import storage_error

__all__ = [
    "SEGMENT_BYTES",
    "DroppedLine",
    "HistoryRead",
    "HistoryRepair",
    "HistoryWriter",
    "Segment",
    "TornTail",
    "count_committed",
    "cut_torn_tail",
    "iter_history",
    "list_segments",
    "plan_repair",
    "read_history",
    "segment_name",
]

SEGMENT_BYTES = 4 << 20
"""Live-file size at which a batch boundary closes a segment (4 MiB: about 1,300 iterations
of the embedded data; compressing it costs well under a second)."""

_XZ_PRESET = 6
"""lzma's default preset: a third smaller than gzip on history lines (see bench/disk_use.py)."""

_SEGMENT = re.compile(r"history\.(\d{9,})-(\d{9,})\.jsonl\.(xz|gz)")
_RACES = 8
"""How many times a reader lists the segments again when rotations keep racing it."""


@dataclass(frozen=True, slots=True)
class Segment:
    """A closed, compressed segment of a run's history: iterations ``first`` to ``last``."""

    path: Path
    first: int
    last: int

    def open(self) -> IO[bytes]:
        """The segment's lines, decompressed as they are read."""
        if self.path.suffix == ".gz":
            return cast("IO[bytes]", gzip.open(self.path, "rb"))
        return lzma.open(self.path, "rb")


def segment_name(first: int, last: int) -> str:
    """The file name of the segment holding iterations ``first`` to ``last``."""
    return f"history.{first:09d}-{last:09d}.jsonl.xz"


def list_segments(history: Path) -> tuple[Segment, ...]:
    """The closed segments beside the live file ``history``, oldest first.

    Raises:
        RunError: two segments overlap (only a hand-made copy can do that).
    """
    try:
        names = [entry.name for entry in history.parent.iterdir()]
    except FileNotFoundError:
        return ()
    found = []
    for name in names:
        match = _SEGMENT.fullmatch(name)
        if match is not None:
            found.append(Segment(history.parent / name, int(match[1]), int(match[2])))
    found.sort(key=lambda segment: segment.first)
    for before, after in itertools.pairwise(found):
        if after.first <= before.last:
            raise RunError(
                f"history segments {before.path.name} and {after.path.name} overlap; "
                "move the one that is a copy out of the run directory"
            )
    return tuple(found)


def _segments_end(segments: tuple[Segment, ...]) -> int:
    """The first iteration after the segments (0 with none)."""
    return segments[-1].last + 1 if segments else 0


@dataclass(frozen=True, slots=True)
class TornTail:
    """The unusable tail of a history file after a crash, as found (before it is moved aside).

    Not the audit trail's :class:`~stratloop.audit.writer.TornLine`, which
    reports a tail the trail has already moved aside when it opened.
    """

    offset: int
    """Byte offset in the live file where the torn tail starts (good up to here)."""
    text: bytes
    """The torn bytes."""
    problem: str
    """Why it is unusable."""


@dataclass(frozen=True, slots=True)
class HistoryRead:
    """The committed records of a history and its torn tail, if any."""

    records: tuple[IterationRecord, ...]
    torn: TornTail | None


def read_history(path: Path) -> HistoryRead:
    """Read a run's history (its segments, then ``history.jsonl``), in iteration order.

    Raises:
        RunError: a line other than the last is unusable, or the iterations are
            not 0, 1, 2, ... in order.
    """
    records: list[IterationRecord] = []
    for item in _scan(path, 0):
        if isinstance(item, TornTail):
            return HistoryRead(tuple(records), item)
        records.append(item)
    return HistoryRead(tuple(records), None)


def iter_history(path: Path, start: int = 0) -> Iterator[IterationRecord]:
    """The committed records one at a time, from iteration ``start``, for reading a long run.

    Checked as :func:`read_history` checks them; a torn last line (a live run
    writing it) is not a committed record and is not yielded. Segments that
    end before ``start`` are not opened, and lines before it are not parsed.

    Raises:
        RunError: as :func:`read_history`.
    """
    for item in _scan(path, start):
        if isinstance(item, TornTail):
            return
        yield item


def count_committed(path: Path) -> int:
    """How many iterations the history holds, without parsing it (for listings).

    A live file whose first line is unreadable counts its lines after the segments.
    """
    segments = list_segments(path)
    end = _segments_end(segments)
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        return end
    with handle:
        first = handle.readline()
        if not first.endswith(b"\n"):
            return end
        lines = 1 + sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))
    start = _first_iteration(first)
    return max(end, (end if start is None else start) + lines)


def _first_iteration(line: bytes) -> int | None:
    """The iteration a history line holds, or None if the line is no readable record."""
    try:
        data = json.loads(line)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    value = data.get("iteration_num", data.get("iteration"))
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class _Rotated(Exception):
    """The live file no longer continues the segments listed: a rotation ran meanwhile."""


def _unless_rotated(path: Path, listed: tuple[Segment, ...]) -> None:
    """Raise :class:`_Rotated` when the segments are no longer those ``listed``."""
    if list_segments(path) != listed:
        raise _Rotated


def _scan(path: Path, start: int) -> Iterator[IterationRecord | TornTail]:
    """Each record from iteration ``start`` in order, then the torn tail if there is one."""
    expected = start
    for _ in range(_RACES):
        listed = list_segments(path)
        for segment in listed:
            if segment.last < expected:
                continue
            if segment.first > expected:
                raise RunError(
                    f"{segment.path} starts at iteration {segment.first} but iteration "
                    f"{expected} was expected; a history segment is missing"
                )
            for record in _segment_records(segment, expected - segment.first):
                yield record
                expected += 1
        try:
            for item in _live(path, expected, listed):
                yield item
                if isinstance(item, TornTail):
                    return
                expected += 1
        except _Rotated:
            continue
        if _segments_end(list_segments(path)) <= expected:
            return
    raise RunError(
        f"{path}: the history was rotated {_RACES} times while it was being read; read again"
    )


def _segment_records(segment: Segment, skip: int) -> Iterator[IterationRecord]:
    """The records of a closed segment after its first ``skip`` lines (those are not parsed)."""
    try:
        with segment.open() as handle:
            for number, line in enumerate(handle):
                if number < skip:
                    continue
                iteration = segment.first + number
                record, problem = _parse(line[:-1], complete=line.endswith(b"\n"))
                if record is None or record.iteration_num != iteration:
                    found = problem or f"holds iteration {record.iteration_num if record else '?'}"
                    raise RunError(
                        f"{segment.path} line {number + 1} should hold iteration {iteration} but "
                        f"{found}; the segment is damaged (restore it from a backup)"
                    )
                yield record
    except (OSError, EOFError, lzma.LZMAError) as exc:
        raise RunError(
            f"{segment.path} cannot be read ({exc}); the segment is damaged "
            "(restore it from a backup)"
        ) from exc


def _live(
    path: Path, expected: int, listed: tuple[Segment, ...]
) -> Iterator[IterationRecord | TornTail]:
    """The live file's records from iteration ``expected``, skipping a covered prefix."""
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        return
    with handle:
        offset, number, first = 0, 0, -1
        line = handle.readline()
        while line:
            number += 1
            following = handle.readline()
            if first < 0 or first + number - 1 >= expected:
                complete = line.endswith(b"\n")
                record, problem = _parse(line[:-1] if complete else line, complete=complete)
                if record is None and not following:
                    _unless_rotated(path, listed)
                    yield TornTail(offset, line, problem)
                    return
                if record is None:
                    raise RunError(
                        f"{path} line {number} is corrupt ({problem}); the history is damaged"
                    )
                if first < 0:
                    first = _first_of_live(path, record, expected, listed)
                _in_sequence(path, record, first + number - 1, number)
                if record.iteration_num >= expected:
                    yield record
            offset += len(line)
            line = following


def _first_of_live(
    path: Path, record: IterationRecord, expected: int, listed: tuple[Segment, ...]
) -> int:
    """The live file's first iteration, which must not skip past ``expected``."""
    if record.iteration_num > expected:
        _unless_rotated(path, listed)
        raise RunError(
            f"{path} line 1 holds iteration {record.iteration_num} but iteration "
            f"{expected} was expected; the history is inconsistent"
        )
    return record.iteration_num


def _in_sequence(path: Path, record: IterationRecord, iteration: int, number: int) -> None:
    if record.iteration_num != iteration:
        raise RunError(
            f"{path} line {number} holds iteration {record.iteration_num!r} "
            f"but iteration {iteration} was expected; the history is inconsistent"
        )


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
    """A line of the history a repair does not keep, and why."""

    line: int
    """1-based line number, counting the closed segments' lines first, then the live file's."""
    iteration: int | None
    """The iteration the line holds, when it holds a readable record."""
    reason: str
    text: bytes


@dataclass(frozen=True, slots=True)
class HistoryRepair:
    """What a repair of the history keeps and drops; nothing is renumbered.

    The kept lines are the valid records that continue the sequence 0, 1, 2, ...
    in order (segments first): the first valid record of each iteration wins,
    every other line is dropped with its reason.
    """

    kept: tuple[bytes, ...]
    """The kept lines, byte for byte as they were (with their newline)."""
    records: tuple[IterationRecord, ...]
    dropped: tuple[DroppedLine, ...]
    in_segments: int = 0
    """How many of the kept lines are the closed segments' (they stay where they are)."""


def plan_repair(path: Path) -> HistoryRepair:
    """Sort the lines of a possibly damaged history into kept and dropped.

    Torn lines, lines that are not records, duplicates of an iteration already
    kept (a live file still holding lines a segment holds, after a crash
    mid-rotation), and iterations out of sequence (interleaved by a second
    writer, or after a gap) are dropped. Reading stops at nothing: every line
    of the live file is judged. The closed segments were written by the run's
    owner from lines it had checked, so they are read as they are.

    Raises:
        RunError: a segment is missing or damaged (restore it from a backup).
    """
    kept: list[bytes] = []
    records: list[IterationRecord] = []
    dropped: list[DroppedLine] = []
    seen: dict[int, int] = {}
    segments = list_segments(path)
    for segment in segments:
        for held in _segment_records(segment, max(0, len(records) - segment.first)):
            if held.iteration_num != len(records):
                raise RunError(
                    f"{segment.path} starts at iteration {segment.first} but iteration "
                    f"{len(records)} was expected; a history segment is missing"
                )
            seen[held.iteration_num] = len(kept) + 1
            kept.append((held.to_json() + "\n").encode())
            records.append(held)
    in_segments = len(kept)
    if not path.exists():
        return HistoryRepair(tuple(kept), tuple(records), (), in_segments)
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=in_segments + 1):
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
    return HistoryRepair(tuple(kept), tuple(records), tuple(dropped), in_segments)


class HistoryWriter:
    """Appends lines to ``history.jsonl``; each line reaches the OS at once, :meth:`sync` fsyncs.

    Writes go through the run lock's descriptor of the file (see
    :class:`~stratloop.loop.runlock.RunLock`), so the lines land in the very file
    that is locked. A write that fails part-way is cut off again, so the file
    never ends in a partial line; the writer is unusable from then on. At a
    sync that leaves the file at ``segment_bytes`` or more, its lines become a
    closed segment and the file is emptied in place (see the module docstring).

    Args:
        path: the history file; created if missing, appended to otherwise.
        fd: a read-write, append-mode descriptor of it, the run lock's
            (duplicated: the caller keeps its own); default: opened here.
        segment_bytes: the live file's size that closes a segment (default
            :data:`SEGMENT_BYTES`, read when the writer is made).
        verify: called before a segment is written, to check this process still
            owns the run (:meth:`~stratloop.loop.runlock.RunLock.verify`).
    """

    def __init__(
        self,
        path: Path,
        fd: int | None = None,
        *,
        segment_bytes: int | None = None,
        verify: Callable[[], None] | None = None,
    ) -> None:
        self._path = path
        try:
            self._fd = (
                os.dup(fd)
                if fd is not None
                else os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
            )
        except OSError as exc:
            raise storage_error(path, exc, "open") from exc
        self._size = os.fstat(self._fd).st_size
        self._failed = False
        self._segment_bytes = SEGMENT_BYTES if segment_bytes is None else segment_bytes
        self._verify = verify

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
        """Make every appended line durable (one fsync; called once per batch), then rotate.

        Raises:
            RunStorageError: the file could not be synced or a segment written.
            RunOwnershipError: another process took the run over (nothing is rotated).
        """
        try:
            os.fsync(self._fd)
        except OSError as exc:
            self._failed = True
            raise storage_error(self._path, exc, "make durable") from exc
        if self._size >= self._segment_bytes:
            self.rotate()

    def rotate(self) -> Segment | None:
        """Close the live file's lines into a compressed segment and empty the file.

        Lines a segment already holds (left by a crash mid-rotation) are not
        written again. Returns the new segment (None when every line was held).

        Raises:
            RunStorageError: the segment could not be written or the file emptied;
                the live file then still holds every line.
        """
        if self._verify is not None:
            self._verify()
        try:
            data = _read_all(self._fd, self._size)
        except OSError as exc:
            raise storage_error(self._path, exc, "read back") from exc
        lines = data.splitlines(keepends=True)
        segment = None
        if lines:
            first = _first_iteration(lines[0])
            if first is None:
                self._failed = True
                raise RunError(
                    f"{self._path} line 1 is no history record; nothing is rotated. "
                    "Stop the run and check it with `stratloop repair`"
                )
            skip = max(0, _segments_end(list_segments(self._path)) - first)
            if skip < len(lines):
                segment = self._write_segment(first + skip, first + len(lines) - 1, lines[skip:])
        try:
            os.ftruncate(self._fd, 0)
            os.fsync(self._fd)
        except OSError as exc:
            self._failed = True
            raise storage_error(self._path, exc, "empty the rotated") from exc
        self._size = 0
        return segment

    def _write_segment(self, first: int, last: int, lines: list[bytes]) -> Segment:
        """Write, sync and rename a segment into place (a crash leaves only a temp file)."""
        final = self._path.with_name(segment_name(first, last))
        tmp = final.with_name(f".{final.name}.tmp")
        try:
            with tmp.open("wb") as handle:
                handle.write(lzma.compress(b"".join(lines), preset=_XZ_PRESET))
                handle.flush()
                os.fsync(handle.fileno())
            tmp.replace(final)
            fsync_dir(final.parent)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
            raise storage_error(final, exc, "write the history segment") from exc
        return Segment(final, first, last)

    def close(self) -> None:
        """Sync (unless a write failed) and close the file."""
        if self._fd < 0:
            return
        try:
            if not self._failed:
                try:
                    os.fsync(self._fd)
                except OSError as exc:
                    self._failed = True
                    raise storage_error(self._path, exc, "make durable") from exc
        finally:
            os.close(self._fd)
            self._fd = -1


def _read_all(fd: int, size: int) -> bytes:
    """The first ``size`` bytes of the file behind ``fd``."""
    parts: list[bytes] = []
    offset = 0
    while offset < size:
        chunk = os.pread(fd, size - offset, offset)
        if not chunk:
            break
        parts.append(chunk)
        offset += len(chunk)
    return b"".join(parts)
