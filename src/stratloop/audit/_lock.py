"""One writer per audit trail, whatever happens to lock files.

A trail is written by one process at a time. Two runs that share an
``audit.path`` must not both write it: their records would interleave and
break the hash chain for good. The writer holds two exclusive ``flock`` locks,
released by the OS when the process dies:

- on ``NAME.jsonl.lock``, which names the writer (pid, host, since) for the
  error another process gets; a temp cleaner or an operator can delete it, so
  it is not what keeps a second writer out;
- on an open descriptor of the trail's ``NAME.jsonl.head`` sidecar: a file
  of the trail itself that is never renamed (rotation renames the live file,
  never the head), so a second process opening it reaches the same inode and
  contends for the same lock, whatever happened to ``.lock``.

Deleting or replacing the head file too does let a second process lock the
new one. So before each record is appended the writer checks that the head
path still names the inode it locked (:meth:`TrailLock.verify`); a writer
that lost the trail stops with an error naming the other writer and appends
nothing more.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import secrets
import socket
import time
from pathlib import Path
from typing import NoReturn

from stratloop._held import file_id, lost_file
from stratloop.audit._files import TrailFiles
from stratloop.audit._write_error import write_error
from stratloop.errors import AuditWriteError

__all__ = ["TrailLock"]


class TrailLock:
    """The exclusive hold of one process on one audit trail; build it with :meth:`acquire`."""

    def __init__(self, live: Path, lock_fd: int, head_fd: int) -> None:
        self.live = live
        files = TrailFiles(live, ())
        self._lock_path = files.lock
        self._head_path = files.head
        self._lock_fd = lock_fd
        self._head_fd = head_fd
        self._inode = file_id(head_fd)
        self.writer = (
            f"pid {os.getpid()} on {socket.gethostname()} (writing since "
            f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}, "
            f"token {secrets.token_hex(4)})"
        )
        """How errors name this process's hold on the trail."""
        data = json.dumps({"writer": self.writer}).encode() + b"\n"
        with contextlib.suppress(OSError):
            os.ftruncate(lock_fd, 0)
            os.pwrite(lock_fd, data, 0)

    @classmethod
    def acquire(cls, live: Path) -> TrailLock:
        """Lock the trail whose live file is ``live`` at once, or raise.

        Raises:
            AuditWriteError: another process holds the trail (the message names it),
                or the directory cannot be written.
        """
        files = TrailFiles(live, ())
        try:
            live.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise write_error(live, exc, "open the audit trail") from exc
        lock_fd = _open_locked(live, files.lock)
        try:
            head_fd = _open_locked(live, files.head)
        except BaseException:
            os.close(lock_fd)
            raise
        return cls(live, lock_fd, head_fd)

    def verify(self) -> None:
        """Check this process still holds the trail; :class:`AuditWriteError` if not.

        Called before each record is appended: one ``stat`` of the head file.
        """
        lost = lost_file(self._head_path, self._inode)
        if lost is not None:
            self._lost(f"its head file {self._head_path} {lost}")

    def _lost(self, what: str) -> NoReturn:
        other = _named_writer(self._lock_path)
        by = f"{other} now writes it" if other and other != self.writer else "no other writer named"
        raise AuditWriteError(
            f"audit trail {self.live}: {what} while this process ({self.writer}) wrote it; "
            f"{by} (per {self._lock_path.name}). This process appends nothing more: stop the "
            "other writer or give it its own audit.path, then check the trail with "
            f"`stratloop audit verify {self.live}`"
        )

    def release(self) -> None:
        """Give the trail up (closing the descriptors releases the locks); safe to call twice."""
        for fd in (self._head_fd, self._lock_fd):
            if fd >= 0:
                os.close(fd)
        self._head_fd = self._lock_fd = -1


def _open_locked(live: Path, path: Path) -> int:
    """``path`` opened (created if missing) and exclusively locked, or the error that says why."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise write_error(path, exc, "open the audit trail") from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _holder(fd, TrailFiles(live, ()).lock)
        os.close(fd)
        raise AuditWriteError(
            f"audit trail {live} is in use by another process ({holder}): it holds the lock "
            f"on {path}; give each instance its own audit.path, or wait for that process to "
            "finish"
        ) from None
    except OSError as exc:
        os.close(fd)
        if exc.errno in (errno.ENOLCK, errno.EOPNOTSUPP):
            raise AuditWriteError(
                f"cannot lock {path}: the file system does not support locks ({exc.strerror}); "
                "put audit.path on a local disk"
            ) from exc
        raise write_error(path, exc, "lock the audit trail") from exc
    return fd


def _named_writer(lock_path: Path) -> str | None:
    """The writer ``NAME.jsonl.lock`` names, if it names one."""
    try:
        data = json.loads(lock_path.read_bytes() or b"{}")
    except (OSError, ValueError):
        return None
    writer = data.get("writer") if isinstance(data, dict) else None
    return writer if isinstance(writer, str) else None


def _holder(fd: int, lock_path: Path) -> str:
    """Who holds the lock on ``fd``'s file: the writer ``.lock`` names, else the kernel's pid."""
    named = _named_writer(lock_path)
    if named is not None:
        return named
    inode = os.fstat(fd).st_ino
    with contextlib.suppress(OSError):
        for line in Path("/proc/locks").read_text().splitlines():
            parts = line.split()
            if len(parts) >= 6 and parts[1] == "FLOCK" and parts[5].endswith(f":{inode}"):
                return f"pid {parts[4]}, per /proc/locks"
    return "a process this host does not name"
