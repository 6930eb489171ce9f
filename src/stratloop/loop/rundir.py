"""The run directory ``runs/<run_id>/``: its files, its lock and its atomic writes.

A run directory holds everything needed to check or resume a run::

    config.json    effective configuration (redacted) and its hash
    flags.jsonl    the flags in force, one line each time they change
    history.jsonl  one line per committed iteration (the live segment)
    history.<first>-<last>.jsonl.xz  closed segments of it, compressed
    champion.json  the current champion (atomically replaced)
    metrics.json   the counters (atomically replaced at every batch)
    archive.json   the diversity archive, when enabled (atomically replaced at every batch)
    run.json       status, seed, start and finish times, the writer
    .reserve       space set aside so that a full disk still lets the run say it stopped

The run's lock is held on ``history.jsonl`` itself (:mod:`stratloop.loop.runlock`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stratloop._fsync import fsync_dir
from stratloop.errors import RunError, RunStorageError
from stratloop.loop.runlock import RunLock

__all__ = [
    "RunDir",
    "atomic_write_json",
    "is_out_of_space",
    "list_run_ids",
    "new_run_id",
    "storage_error",
    "utc_now",
]

_ID_TIME = "%Y%m%dT%H%M%SZ"

_NO_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
"""Errors that freeing space (or raising a quota or file-size limit) fixes."""

RESERVE_BYTES = 64 * 1024
"""Space ``.reserve`` holds: enough to rewrite ``run.json`` on a disk that filled up."""


def is_out_of_space(exc: BaseException) -> bool:
    """Whether ``exc`` was caused, anywhere down its chain, by a full disk or quota."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, RunStorageError) and current.disk_full:
            return True
        if isinstance(current, OSError) and current.errno in _NO_SPACE:
            return True
        current = current.__cause__ or current.__context__
    return False


def storage_error(path: Path, exc: OSError, action: str) -> RunStorageError:
    """The :class:`RunStorageError` for ``exc`` while trying to ``action`` ``path``."""
    full = exc.errno in _NO_SPACE
    if exc.errno == errno.EFBIG:
        fix = "raise the process's file-size limit (ulimit -f), then resume the run"
    elif full:
        fix = "free disk space (or raise the quota), then resume the run"
    else:
        fix = "make the run directory writable, then resume the run"
    return RunStorageError(
        f"could not {action} {path}: {exc.strerror or exc} (errno {exc.errno}); {fix}",
        disk_full=full,
    )


def utc_now() -> str:
    """The current UTC time in ISO 8601 with microseconds."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")


def new_run_id(now: dt.datetime | None = None, suffix: str | None = None) -> str:
    """A sortable run id: UTC timestamp plus a short random suffix.

    Args:
        now: the start time (default: now, UTC).
        suffix: the suffix (default: 6 random hex digits), for reproducible ids.
    """
    moment = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    return f"{moment.strftime(_ID_TIME)}-{suffix or secrets.token_hex(3)}"


def atomic_write_json(path: Path, payload: Any, *, durable: bool = True) -> None:
    """Replace ``path`` with ``payload`` as JSON: write a temp file, fsync, rename.

    A reader (or a crash) sees either the old file or the new one, never a mix.

    Args:
        path: the file to replace.
        payload: JSON data (no NaN).
        durable: fsync the file and its directory; False for files that are
            recomputed from the history anyway (still atomic, just not forced to disk).

    Raises:
        RunStorageError: the file could not be written; the temp file is removed
            and ``path`` is left as it was.
    """
    tmp = _tmp(path)
    data = json.dumps(payload, indent=2, sort_keys=True, allow_nan=False) + "\n"
    try:
        with tmp.open("w", encoding="utf-8") as handle:
            handle.write(data)
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        tmp.replace(path)
        if durable:
            fsync_dir(path.parent)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise storage_error(path, exc, "write") from exc


def _tmp(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp")


class _Member:
    """A file of the run directory: ``run_dir.config`` is ``run_dir.root / "config.json"``."""

    __slots__ = ("filename",)

    def __init__(self, filename: str) -> None:
        self.filename = filename

    def __get__(self, run_dir: RunDir, owner: type[RunDir] | None = None) -> Path:
        return run_dir.root / self.filename


@dataclass(frozen=True, slots=True)
class RunDir:
    """The files of one run. Creating one does not touch the disk; see :meth:`create`.

    Args:
        root: the run directory itself, ``<runs_dir>/<run_id>``.
    """

    root: Path

    @property
    def run_id(self) -> str:
        """The directory's name."""
        return self.root.name

    config = _Member("config.json")
    flags = _Member("flags.jsonl")
    history = _Member("history.jsonl")
    champion = _Member("champion.json")
    metrics = _Member("metrics.json")
    islands = _Member("islands.json")
    archive = _Member("archive.json")
    run = _Member("run.json")
    reserve = _Member(".reserve")

    @classmethod
    def create(cls, runs_dir: Path, run_id: str) -> RunDir:
        """Make a new, empty run directory; an existing one is an error."""
        root = Path(runs_dir) / run_id
        try:
            root.mkdir(parents=True, exist_ok=False)
        except FileExistsError:
            raise RunError(
                f"run directory {root} already exists; resume it with --resume {run_id}"
            ) from None
        except OSError as exc:
            raise RunError(f"cannot create run directory {root}: {exc.strerror}") from exc
        return cls(root)

    @classmethod
    def open(cls, runs_dir: Path, run_id: str) -> RunDir:
        """An existing run directory with its ``config.json``; anything else is an error."""
        root = Path(runs_dir) / run_id
        if not (root / "config.json").is_file():
            known = ", ".join(list_run_ids(Path(runs_dir))[-5:]) or "none"
            raise RunError(
                f"no run {run_id!r} in {runs_dir} (no {root / 'config.json'}); "
                f"latest runs there: {known}"
            )
        return cls(root)

    def lock(self, *, resume: bool = False) -> RunLock:
        """Acquire the run's lock without waiting; a held lock is a :class:`RunError`.

        The lock is an OS lock on ``history.jsonl`` (see :mod:`stratloop.loop.runlock`),
        so a process killed with SIGKILL releases it and deleting files does not.
        Holding it, leftover temp files of an interrupted atomic write (and of a
        history segment being written) are removed.

        Args:
            resume: the run has run before: a missing ``history.jsonl`` is then an
                error once anything was committed, never a silent restart from zero.
        """
        if resume and not self.history.exists() and self._committed_before():
            raise RunError(
                f"run {self.run_id} has no {self.history.name} although it committed "
                "iterations (see run.json and metrics.json); restore the file before "
                "resuming, or start a new run"
            )
        lock = RunLock.acquire(self.run_id, self.history, self.run)
        for member in (self.config, self.champion, self.metrics, self.archive, self.run):
            with contextlib.suppress(OSError):
                _tmp(member).unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            for leftover in self.root.glob(".history.*.jsonl.*.tmp"):
                leftover.unlink(missing_ok=True)
        return lock

    def _committed_before(self) -> bool:
        if self.metrics.exists():
            return True
        try:
            return int(json.loads(self.run.read_text(encoding="utf-8")).get("iterations", 0)) > 0
        except (OSError, ValueError, TypeError, AttributeError):
            return False

    def discard_unstarted(self) -> None:
        """Remove a run directory whose run never started (nothing committed); else leave it."""
        try:
            if self.history.exists() and self.history.stat().st_size > 0:
                return
            for member in (self.config, self.run, self.history, self.reserve):
                member.unlink(missing_ok=True)
                _tmp(member).unlink(missing_ok=True)
            self.root.rmdir()
        except OSError:
            return

    def set_reserve(self) -> None:
        """Set ``.reserve`` aside, so a disk that fills up still lets the run record its stop.

        Raises:
            RunStorageError: the space is not there (the disk is already full).
        """
        try:
            fd = os.open(self.reserve, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                os.posix_fallocate(fd, 0, RESERVE_BYTES)
            finally:
                os.close(fd)
        except OSError as exc:
            with contextlib.suppress(OSError):
                self.reserve.unlink(missing_ok=True)
            raise storage_error(self.reserve, exc, "set aside space in") from exc

    def free_reserve(self) -> None:
        """Give the reserved space back (to write the stop record, or when the run ends)."""
        with contextlib.suppress(OSError):
            self.reserve.unlink(missing_ok=True)

    def read_json(self, path: Path) -> Any:
        """Read one of the run's JSON files; a missing or broken file is a :class:`RunError`."""
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise RunError(f"run {self.run_id} has no {path.name}") from None
        except (OSError, ValueError) as exc:
            raise RunError(f"run {self.run_id}: cannot read {path.name}: {exc}") from exc


def list_run_ids(runs_dir: Path) -> list[str]:
    """Ids of the run directories under ``runs_dir``, oldest first."""
    if not runs_dir.is_dir():
        return []
    runs = [p for p in runs_dir.iterdir() if (p / "config.json").is_file()]
    return [p.name for p in sorted(runs, key=run_age)]


def run_age(run_dir: Path) -> tuple[str, int, str]:
    """Sort key of a run directory, oldest first.

    The id's timestamp has whole seconds and a random suffix, so two runs
    started in one second are ordered by when their ``config.json`` was written.
    """
    stamp = run_dir.name.split("-", 1)[0]
    return stamp, (run_dir / "config.json").stat().st_mtime_ns, run_dir.name
