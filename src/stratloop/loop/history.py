"""``history.jsonl``: one JSON line per committed iteration, append-only.

Lines are flushed to the OS as they are written and fsynced once per batch.
After a crash the last line may be torn (written in part); reading detects it,
:func:`cut_torn_tail` moves it aside and reports it, and the iteration is redone.
A bad line anywhere else is corruption and stops the run.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Self

from stratloop.errors import RunError
from stratloop.iteration import IterationRecord

__all__ = [
    "HistoryRead",
    "HistoryWriter",
    "TornTail",
    "cut_torn_tail",
    "iter_history",
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
    """

    def __init__(self, path: Path) -> None:
        self._path = path
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

    def sync(self) -> None:
        """Make every appended line durable (one fsync; called once per batch)."""
        try:
            os.fsync(self._handle.fileno())
        except OSError as exc:
            raise RunError(f"cannot fsync {self._path}: {exc.strerror}") from exc

    def close(self) -> None:
        """Sync and close the file."""
        if not self._handle.closed:
            self.sync()
            self._handle.close()
