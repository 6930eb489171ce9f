"""``history.jsonl``: one JSON line per committed iteration, append-only.

Lines are flushed to the OS as they are written and fsynced once per batch.
After a crash the last line may be torn (written in part); reading detects it,
:func:`cut_torn_tail` moves it aside and reports it, and the iteration is redone.
A bad line anywhere else is corruption and stops the run.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Self

from stratloop.errors import RunError

__all__ = [
    "HistoryRead",
    "HistoryWriter",
    "TornLine",
    "comparable",
    "cut_torn_tail",
    "dumps_record",
    "read_history",
]

VOLATILE_KEYS = ("timestamp", "timings")
"""Keys that differ between two runs of the same seed and configuration."""

IMPLEMENTATION_KEYS = ("implementation", "strategy_selected", "flags")
"""Keys that name the code path; they differ between implementations by design."""


def dumps_record(record: Mapping[str, Any]) -> str:
    """One history line (no newline): compact, key-sorted, strict JSON (no NaN)."""
    return json.dumps(record, sort_keys=True, separators=(",", ":"), allow_nan=False)


def comparable(
    record: Mapping[str, Any], *, across_implementations: bool = False
) -> dict[str, Any]:
    """The record without the keys that legitimately differ between equivalent runs.

    Args:
        record: one history record.
        across_implementations: also drop the keys naming the code path, to
            compare the procedural and strategy-pattern implementations.
    """
    dropped = VOLATILE_KEYS + (IMPLEMENTATION_KEYS if across_implementations else ())
    return {key: value for key, value in record.items() if key not in dropped}


@dataclass(frozen=True, slots=True)
class TornLine:
    """The unusable tail of a history file after a crash."""

    offset: int
    """Byte offset where the torn tail starts (the file is good up to here)."""
    text: bytes
    """The torn bytes."""
    problem: str
    """Why it is unusable."""


@dataclass(frozen=True, slots=True)
class HistoryRead:
    """The committed records of a history file and its torn tail, if any."""

    records: tuple[dict[str, Any], ...]
    torn: TornLine | None


def read_history(path: Path) -> HistoryRead:
    """Read ``history.jsonl``: every complete line must be a record, in iteration order.

    Raises:
        RunError: a line other than the last is unusable, or the iterations are
            not 0, 1, 2, ... in order.
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return HistoryRead((), None)
    records: list[dict[str, Any]] = []
    offset = 0
    torn: TornLine | None = None
    lines = data.split(b"\n")
    for number, raw in enumerate(lines, start=1):
        is_last = number == len(lines)
        if is_last and not raw:
            break
        problem = _line_problem(raw, complete=not is_last)
        if problem is None:
            record = json.loads(raw)
            expected = len(records)
            if record.get("iteration") != expected:
                raise RunError(
                    f"{path} line {number} holds iteration {record.get('iteration')!r} "
                    f"but iteration {expected} was expected; the history is inconsistent"
                )
            records.append(record)
        elif is_last or (number == len(lines) - 1 and not lines[-1]):
            torn = TornLine(offset, data[offset:], problem)
            break
        else:
            raise RunError(f"{path} line {number} is corrupt ({problem}); the history is damaged")
        offset += len(raw) + 1
    return HistoryRead(tuple(records), torn)


def _line_problem(raw: bytes, *, complete: bool) -> str | None:
    if not complete:
        return "the last line has no newline: it was being written when the process stopped"
    try:
        record = json.loads(raw)
    except ValueError as exc:
        return f"not valid JSON: {exc}"
    if not isinstance(record, dict) or not isinstance(record.get("iteration"), int):
        return "not a history record (no integer 'iteration')"
    return None


def cut_torn_tail(path: Path, torn: TornLine) -> Path:
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

    def append(self, line: str) -> None:
        """Write one serialised record (see :func:`dumps_record`) and flush it to the OS."""
        try:
            self._handle.write(line + "\n")
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
