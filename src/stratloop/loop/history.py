"""``history.jsonl``: one JSON line per committed iteration, append-only.

Lines are flushed to the OS as they are written and fsynced once per batch.
After a crash the last line may be torn (written in part); reading detects it,
:func:`cut_torn_tail` moves it aside and reports it, and the iteration is redone.
A bad line anywhere else is corruption and stops the run.

A long run's history is kept in closed segments: once the file passes
:data:`SEGMENT_BYTES` at a batch boundary it becomes
``history.<first>-<last iteration>.jsonl.gz`` (renamed, then gzipped
durably on a background thread) and a fresh ``history.jsonl`` continues. Readers read the segments
in order, then the live file, so a resume sees every committed iteration; a
segment is never appended to, so a torn line can only be in the live file.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Self

from stratloop._fsync import fsync_dir, write_synced
from stratloop.errors import RunError
from stratloop.iteration import IterationRecord

__all__ = [
    "SEGMENT_BYTES",
    "HistoryRead",
    "HistoryWriter",
    "TornTail",
    "committed_count",
    "cut_torn_tail",
    "history_segments",
    "iter_history",
    "read_history",
]

SEGMENT_BYTES = 64 * 1024 * 1024
"""Size past which the live history file is closed into a gzipped segment (~8 MB gzipped)."""

_SEGMENT = re.compile(r"^(?P<stem>.+)\.(?P<first>\d{12})-(?P<last>\d{12})\.jsonl(?P<gz>\.gz)?$")


def history_segments(path: Path) -> tuple[Path, ...]:
    """The closed segments of the history file ``path``, oldest first.

    A segment whose compression a crash interrupted may exist plain and
    gzipped: the gzipped one (complete, since it is renamed into place) is used.
    """
    stem = path.name.removesuffix(".jsonl")
    found: dict[int, Path] = {}
    if path.parent.is_dir():
        for child in path.parent.iterdir():
            match = _SEGMENT.match(child.name)
            if match and match["stem"] == stem:
                first = int(match["first"])
                if first not in found or match["gz"]:
                    found[first] = child
    return tuple(found[first] for first in sorted(found))


def _segment_last(segment: Path) -> int:
    match = _SEGMENT.match(segment.name)
    assert match is not None
    return int(match["last"])


def committed_count(path: Path) -> int:
    """How many lines the history holds (segments by their names, the live file by counting)."""
    segments = history_segments(path)
    count = _segment_last(segments[-1]) + 1 if segments else 0
    try:
        with path.open("rb") as handle:
            return count + sum(
                chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b"")
            )
    except FileNotFoundError:
        return count


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
    """Each record in order (the segments', then the live file's), then a torn tail if any."""
    start = 0
    for segment in history_segments(path):
        yield from _scan_segment(segment, start)
        start = _segment_last(segment) + 1
    yield from _scan_live(path, start)


def _scan_segment(segment: Path, start: int) -> Iterator[IterationRecord]:
    """The records of a closed segment, which must be iterations ``start`` to its last."""
    try:
        try:
            data = segment.read_bytes()
        except FileNotFoundError:
            if segment.suffix == ".gz":
                raise
            segment = segment.with_name(segment.name + ".gz")  # compressed since it was listed
            data = segment.read_bytes()
        if segment.suffix == ".gz":
            data = gzip.decompress(data)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise RunError(f"history segment {segment} cannot be read: {exc}") from exc
    lines = data.split(b"\n")
    if lines.pop():
        raise RunError(f"history segment {segment} ends in a partial line; it is damaged")
    for number, line in enumerate(lines, start=1):
        record, problem = _parse(line, complete=True)
        if record is None:
            raise RunError(
                f"{segment} line {number} is corrupt ({problem}); the history is damaged"
            )
        _check_order(segment, number, record, start + number - 1)
        yield record
    if len(lines) != _segment_last(segment) - start + 1:
        raise RunError(
            f"history segment {segment} holds {len(lines)} iterations but its name says "
            f"{start} to {_segment_last(segment)}; the history is damaged"
        )


def _check_order(path: Path, number: int, record: IterationRecord, expected: int) -> None:
    if record.iteration_num != expected:
        raise RunError(
            f"{path} line {number} holds iteration {record.iteration_num!r} "
            f"but iteration {expected} was expected; the history is inconsistent"
        )


def _scan_live(path: Path, start: int) -> Iterator[IterationRecord | TornTail]:
    """The live file's records from iteration ``start``, then its torn tail if it has one."""
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
                _check_order(path, number, record, start + number - 1)
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
    """
    aside = path.with_name(f"{path.name}.torn-{torn.offset}")
    with aside.open("wb") as handle:
        handle.write(torn.text)
        handle.flush()
        os.fsync(handle.fileno())
    with path.open("r+b") as handle:
        handle.truncate(torn.offset)
        handle.flush()
        os.fsync(handle.fileno())
    return aside


class HistoryWriter:
    """Appends lines to ``history.jsonl``; flushed per line, fsynced by :meth:`sync`.

    Args:
        path: the history file; created if missing, appended to otherwise.
        segment_bytes: past this size, :meth:`sync` closes the file into a gzipped
            segment (default :data:`SEGMENT_BYTES`).
    """

    def __init__(self, path: Path, segment_bytes: int | None = None) -> None:
        self._path = path
        self._segment_bytes = SEGMENT_BYTES if segment_bytes is None else segment_bytes
        try:
            _finish_segments(path)
        except OSError as exc:
            raise RunError(f"cannot compress the history segments of {path}: {exc}") from exc
        self._first = _first_iteration(path)
        self._last: int | None = None
        self._compressing: _Compression | None = None
        self._handle: IO[str] = path.open("a", encoding="utf-8")

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def append(self, record: IterationRecord) -> None:
        """Write one record's line and flush it to the OS."""
        try:
            self._handle.write(record.to_json() + "\n")
            self._handle.flush()
        except OSError as exc:
            raise RunError(f"cannot append to {self._path}: {exc.strerror}") from exc
        if self._first is None:
            self._first = record.iteration_num
        self._last = record.iteration_num

    def sync(self) -> None:
        """Make every appended line durable (one fsync; called once per batch).

        Past ``segment_bytes`` the file is then closed into a gzipped segment.
        """
        try:
            os.fsync(self._handle.fileno())
            full = os.fstat(self._handle.fileno()).st_size >= self._segment_bytes
        except OSError as exc:
            raise RunError(f"cannot fsync {self._path}: {exc.strerror}") from exc
        if full and self._first is not None and self._last is not None:
            self._close_segment(self._first, self._last)

    def _close_segment(self, first: int, last: int) -> None:
        """Rename the durable live file into a segment, continue in a fresh one, gzip it."""
        plain = self._path.with_name(
            f"{self._path.name.removesuffix('.jsonl')}.{first:012d}-{last:012d}.jsonl"
        )
        self._wait_for_compression()
        try:
            self._handle.close()
            self._path.rename(plain)
            fsync_dir(self._path.parent)
            self._handle = self._path.open("a", encoding="utf-8")
        except OSError as exc:
            raise RunError(f"cannot close the history segment {plain}: {exc}") from exc
        self._first = self._last = None
        self._compressing = _Compression(plain)

    def _wait_for_compression(self) -> None:
        """Wait for the previous segment's compression; raise its failure."""
        compressing, self._compressing = self._compressing, None
        if compressing is not None:
            compressing.join()

    def close(self) -> None:
        """Sync and close the file, and finish compressing the last closed segment."""
        try:
            if not self._handle.closed:
                self.sync()
                self._handle.close()
        finally:
            self._wait_for_compression()


class _Compression:
    """Gzips a closed segment on a background thread, so the loop does not stall for it.

    The plain segment stays readable until the ``.gz`` is renamed into place;
    a crash before that leaves the plain one, which the next writer compresses.
    """

    def __init__(self, plain: Path) -> None:
        self._plain = plain
        self._error: OSError | None = None
        self._thread = threading.Thread(target=self._run, name="history-gzip", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            _compress(self._plain)
        except OSError as exc:
            self._error = exc

    def join(self) -> None:
        """Wait for the compression.

        Raises:
            RunError: the segment could not be compressed (it stays plain and readable).
        """
        self._thread.join()
        if self._error is not None:
            raise RunError(
                f"cannot compress the history segment {self._plain}: {self._error}; it stays "
                "plain and readable, and the next start compresses it"
            ) from self._error


def _first_iteration(path: Path) -> int | None:
    """The iteration of the live file's first line (None when it has none)."""
    try:
        with path.open("rb") as handle:
            line = handle.readline()
    except FileNotFoundError:
        return None
    record, _ = _parse(line[:-1], complete=line.endswith(b"\n"))
    return None if record is None else record.iteration_num


def _compress(plain: Path) -> None:
    """Replace the segment ``plain`` by ``plain.gz``, durably (through a synced ``.gz.tmp``)."""
    final = plain.with_name(plain.name + ".gz")
    tmp = plain.with_name(plain.name + ".gz.tmp")
    packed = io.BytesIO()
    with gzip.GzipFile(
        filename=plain.name, fileobj=packed, mode="wb", compresslevel=6, mtime=0
    ) as gz:
        gz.write(plain.read_bytes())
    write_synced(tmp, packed.getvalue())
    tmp.rename(final)
    plain.unlink()
    fsync_dir(plain.parent)


def _finish_segments(path: Path) -> None:
    """Finish what a crash interrupted: drop ``.gz.tmp`` leftovers, gzip plain segments."""
    stem = path.name.removesuffix(".jsonl")
    for leftover in path.parent.glob(f"{stem}.*.jsonl.gz.tmp"):
        leftover.unlink()
    for segment in history_segments(path):
        if segment.suffix != ".gz":
            _compress(segment)
