"""The run directory ``runs/<run_id>/``: its files, its lock and its atomic writes.

A run directory holds everything needed to check or resume a run::

    config.json    effective configuration (redacted) and its hash
    flags.jsonl    the flags in force, one line each time they change
    history.jsonl  one line per committed iteration
    champion.json  the current champion (atomically replaced)
    metrics.json   the counters (atomically replaced at every batch)
    run.json       status, seed, start and finish times
    .lock          held while a process runs the loop on this directory
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from stratloop._fsync import fsync_dir
from stratloop.errors import RunError

__all__ = ["RunDir", "atomic_write_json", "list_run_ids", "new_run_id", "utc_now"]

_ID_TIME = "%Y%m%dT%H%M%SZ"


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
    """
    tmp = path.with_name(f".{path.name}.tmp")
    data = json.dumps(payload, indent=2, sort_keys=True, allow_nan=False) + "\n"
    with tmp.open("w", encoding="utf-8") as handle:
        handle.write(data)
        if durable:
            handle.flush()
            os.fsync(handle.fileno())
    tmp.replace(path)
    if durable:
        fsync_dir(path.parent)


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
    run = _Member("run.json")
    lock_path = _Member(".lock")

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

    def lock(self) -> FileLock:
        """Acquire the run's lock without waiting; a held lock is a :class:`RunError`.

        The lock is an OS file lock, so a process killed with SIGKILL releases it.
        """
        lock = FileLock(self.lock_path, timeout=0)
        try:
            lock.acquire()
        except Timeout:
            raise RunError(
                f"run {self.run_id} is being run by another process (lock {self.lock_path} "
                "is held); wait for it to finish or stop it first"
            ) from None
        return lock

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
    return sorted(p.name for p in runs_dir.iterdir() if (p / "config.json").is_file())
