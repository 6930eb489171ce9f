"""One writer per run, whatever happens to lock files.

The run's lock is an exclusive ``flock`` on an open descriptor of the run's
``history.jsonl`` itself: the same kind of OS lock the audit trail holds on
its ``.lock`` file (``filelock`` uses ``flock`` too), released by the OS when
the process dies. A lock *file* can be deleted by a temp cleaner or an
operator, and the next process then locks a new file; a lock held on the
history file's inode cannot be lost that way, because a second process
opening ``history.jsonl`` reaches the same inode and contends for the same
lock. It is refused before it touches the run or its audit trail.

Deleting or replacing ``history.jsonl`` itself does let a second process lock
the new file. So before each batch is committed the writer checks that it
still owns the run (:meth:`RunLock.verify`): the path still names the inode
it locked, and ``run.json`` still names this writer. A writer that lost the
run stops with an error naming the other writer, without committing anything.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import secrets
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from stratloop._held import file_id, lost_file
from stratloop.errors import RunError, RunOwnershipError

__all__ = ["RunLock", "Writer", "is_held"]

_RETRY_S = 0.25
"""How long acquiring retries while a reader's short shared probe (:func:`is_held`) holds it."""


def _utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


@dataclass(frozen=True, slots=True)
class Writer:
    """The process writing a run, as ``run.json`` names it under ``writer``."""

    pid: int
    host: str
    token: str
    """Random per acquisition: tells two writers apart even with the same pid on two hosts."""
    since: str

    @classmethod
    def this_process(cls) -> Writer:
        """A new identity for this process's hold on a run."""
        return cls(os.getpid(), socket.gethostname(), secrets.token_hex(8), _utc_now())

    @classmethod
    def from_json(cls, data: object) -> Writer | None:
        """The writer ``run.json`` names, or None if it names none (or not in this shape)."""
        if not isinstance(data, Mapping):
            return None
        try:
            return cls(int(data["pid"]), str(data["host"]), str(data["token"]), str(data["since"]))
        except (KeyError, TypeError, ValueError):
            return None

    def as_json(self) -> dict[str, Any]:
        """The ``writer`` object of ``run.json``."""
        return {"pid": self.pid, "host": self.host, "token": self.token, "since": self.since}

    def __str__(self) -> str:
        return f"pid {self.pid} on {self.host} (writing since {self.since})"


class RunLock:
    """The exclusive hold of one process on one run directory.

    Build it with :meth:`acquire`; :attr:`fd` is the locked, append-mode
    descriptor of ``history.jsonl`` that the history writer writes through.
    """

    def __init__(self, run_id: str, history: Path, run_json: Path, fd: int) -> None:
        self.run_id = run_id
        self.history = history
        self.run_json = run_json
        self.fd = fd
        self.writer = Writer.this_process()
        self._inode = file_id(fd)

    @classmethod
    def acquire(cls, run_id: str, history: Path, run_json: Path) -> RunLock:
        """Lock ``history`` (created if missing) at once; a held lock is a :class:`RunError`.

        Args:
            run_id: the run, for messages.
            history: the run's ``history.jsonl``.
            run_json: the run's ``run.json`` (names the writer holding the lock).
        """
        try:
            fd = os.open(history, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise RunError(f"cannot open {history}: {exc.strerror}") from exc
        try:
            _lock(fd, run_id, history, run_json)
        except BaseException:
            os.close(fd)
            raise
        return cls(run_id, history, run_json, fd)

    def verify(self) -> None:
        """Check this process still owns the run; raise :class:`RunOwnershipError` if not.

        Called before every batch is committed and before ``run.json`` is rewritten.
        """
        lost = lost_file(self.history, self._inode)
        if lost is not None:
            self._lost(f"{self.history} {lost} while this process held it")
        named = _writer(self.run_json)
        if named is None or named.token != self.writer.token:
            self._lost(f"{self.run_json.name} no longer names this process as the run's writer")

    def _lost(self, what: str) -> NoReturn:
        other = _writer(self.run_json)
        by = (
            f"run.json names {other} as the writer"
            if other is not None and other.token != self.writer.token
            else "run.json names no other writer"
        )
        raise RunOwnershipError(
            f"run {self.run_id}: {what}; {by}. This process ({self.writer}) stops without "
            "committing more. Let the other writer finish (or stop it), then check the run "
            f"with `stratloop repair {self.run_id}`"
        )

    def release(self) -> None:
        """Give the run up (closing the descriptor releases the lock); safe to call twice."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def is_held(history: Path) -> bool:
    """Whether some process holds the run whose history is ``history`` (a short shared probe)."""
    try:
        fd = os.open(history, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def _lock(fd: int, run_id: str, history: Path, run_json: Path) -> None:
    deadline = time.monotonic() + _RETRY_S
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if time.monotonic() < deadline:
                time.sleep(0.01)
                continue
            holder = _writer(run_json)
            named = f" ({holder}, per run.json)" if holder is not None else ""
            raise RunError(
                f"run {run_id} is being run by another process{named}: it holds the lock on "
                f"{history}; wait for it to finish or stop it first"
            ) from None
        except OSError as exc:
            if exc.errno in (errno.ENOLCK, errno.EOPNOTSUPP):
                raise RunError(
                    f"cannot lock {history}: the file system does not support locks "
                    f"({exc.strerror}); put loop.runs_dir on a local disk"
                ) from exc
            raise RunError(f"cannot lock {history}: {exc.strerror}") from exc
        return


def _run_json(run_json: Path) -> Mapping[str, Any]:
    try:
        data = json.loads(run_json.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, Mapping) else {}


def _writer(run_json: Path) -> Writer | None:
    return Writer.from_json(_run_json(run_json).get("writer"))
