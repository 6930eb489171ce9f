"""The live file of a trail: one ``write`` per line, made durable per ``audit.fsync``.

Lines go to a file opened with ``O_APPEND``. Durability: ``always``
(fdatasync after every line), ``batch`` (group commit: durable within
``batch_interval_s`` or ``batch_records``, whichever comes first; the line
still reaches the OS at once, so a process crash loses nothing) or
``never``.

In ``batch`` mode the write that brings the pending lines to half of
``batch_records`` hands a commit (descriptor, count, head) to a background
thread, which runs the fdatasync without taking the trail's lock; the first
pending line also arms the ``batch_interval_s`` timer. Writes do not wait
for the disk unless ``batch_records`` lines already await durability: then
the next write waits, so a power loss can never cost more than
``batch_records`` records. The ``.head`` sidecar names the last durable
record and only ever moves forward.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from stratloop.audit._files import TrailFiles
from stratloop.audit._write_error import write_error
from stratloop.audit.processors import ChainHead
from stratloop.config.models import AuditConfig
from stratloop.errors import AuditWriteError

__all__ = ["Appender"]

_HEAD_FORMAT = "{seq:020d} {hash}\n"


@dataclass(frozen=True, slots=True)
class _Commit:
    """A group commit handed to the flusher, in the order the writes made them.

    ``count`` records up to ``seq``/``hash`` become durable with a fdatasync
    of ``fd``; ``retired`` are sync descriptors of rotated files, closed first
    (every commit that used them has finished by then).
    """

    fd: int
    seq: int
    hash: str
    count: int
    retired: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class _Arm:
    """The first pending record arrived at ``since``: commit by ``since + batch_interval_s``."""

    since: float


_STOP = None

_CLOSED = -1
"""The descriptor of a live file that a failed rotation left closed (nothing to close)."""


def _open(path: Path, *, append: bool = True) -> int:
    flags = os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC | (os.O_APPEND if append else 0)
    try:
        return os.open(path, flags, 0o644)
    except OSError as exc:
        raise write_error(path, exc, "open the audit trail") from exc


class Appender:
    """Writes lines to the live file at ``path`` and makes them durable.

    Every method except :meth:`close` is called holding :attr:`lock`, the
    trail's lock. A failed write, sync or head update makes the appender
    unusable: :meth:`check_usable` raises that failure from then on.

    Args:
        path: the live file; created if missing, appended to otherwise.
        config: the ``audit`` section (fsync policy and group-commit bounds).
        head: the chain head; :meth:`write` moves it once a line is written.

    Raises:
        AuditWriteError: the live file or its head sidecar cannot be opened.
    """

    def __init__(self, path: Path, config: AuditConfig, head: ChainHead) -> None:
        self.path = path
        self.lock = threading.Condition()
        """The trail's lock: held by every write, and waited on for room under ``batch``."""
        self._mode = config.fsync
        self._interval_s = config.batch_interval_s
        self._batch_records = config.batch_records
        self._commit_at = max(1, (config.batch_records + 1) // 2)
        self._head = head
        self._jobs: queue.SimpleQueue[_Commit | _Arm | None] = queue.SimpleQueue()
        self._pending = 0
        self._requested = 0
        self._done = 0
        self._waiting = 0
        self._durable_seq = -1
        self._durable_hash = head.hash
        self._head_lock = threading.Lock()
        self._retired: list[int] = []
        self._failure: AuditWriteError | None = None
        self._closed = False
        self._fd = _open(path)
        try:
            self._head_fd = _open(TrailFiles(path, ()).head, append=False)
            try:
                self._sync_fd = self._dup(self._fd) if self._mode == "batch" else self._fd
            except BaseException:
                os.close(self._head_fd)
                raise
        except BaseException:
            os.close(self._fd)
            raise
        self.size = os.fstat(self._fd).st_size
        """Bytes in the live file."""
        self._flusher: threading.Thread | None = None
        if self._mode == "batch":
            self._flusher = threading.Thread(
                target=self._flush_loop, name="audit-group-commit", daemon=True
            )
            self._flusher.start()

    def check_usable(self) -> None:
        """Raise the failure that made the trail unusable, or that it is closed."""
        if self._failure is not None:
            raise self._failure
        if self._closed:
            raise AuditWriteError(f"audit trail {self.path} is closed")

    def fail(self, failure: AuditWriteError) -> AuditWriteError:
        """Make the trail unusable with ``failure`` (e.g. a rotation that failed); return it."""
        self._failure = failure
        return failure

    def wait_for_room(self) -> None:
        """Under ``batch``, wait while ``batch_records`` records already await durability.

        The flusher updates ``_done`` without the lock; registering in
        ``_waiting`` before reading it means the flusher sees the registration
        whenever it finishes a commit this write could be waiting for.
        """
        if self._mode != "batch" or not self._room_is_full():
            return
        self._waiting += 1
        try:
            while self._room_is_full():
                self.lock.wait()
                self.check_usable()
        finally:
            self._waiting -= 1

    def write(self, line: bytes, seq: int, record_hash: str) -> None:
        """Write one whole line (record ``seq``), move the chain head, apply the fsync policy.

        A failed write is cut off the file, so the file never ends in a partial line.
        """
        offset = self.size
        view = memoryview(line)
        try:
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
        except OSError as exc:
            failure = self.fail(write_error(self.path, exc, f"write record seq {seq}"))
            try:
                os.ftruncate(self._fd, offset)
            except OSError:
                failure = self.fail(
                    AuditWriteError(
                        f"{failure}; the partial line could not be removed, so the next start "
                        "will move it aside as a torn line"
                    )
                )
            raise failure from exc
        self.size += len(line)
        self._head.seq = seq
        self._head.hash = record_hash
        if self._mode == "always":
            self.sync()
        elif self._mode == "batch":
            self._pending += 1
            if self._pending == 1:
                self._jobs.put(_Arm(time.monotonic()))
            if self._pending >= self._commit_at:
                self._jobs.put(self._start_commit())

    def sync(self) -> None:
        """Make every written record durable now, on the caller's thread."""
        try:
            os.fdatasync(self._fd)
        except OSError as exc:
            raise self.fail(write_error(self.path, exc, "make the audit trail durable")) from exc
        self._pending = 0
        self._write_head(self._head.seq, self._head.hash)

    def reopen(self, move: Callable[[], None]) -> None:
        """Sync and close the live file, let ``move`` rename it away, open a fresh one.

        Raises:
            AuditWriteError: from ``move`` or from opening the fresh file (the trail is
                then unusable).
        """
        self.sync()
        os.close(self._fd)
        if self._flusher is not None:
            self._retired.append(self._sync_fd)
        self._fd = self._sync_fd = _CLOSED
        try:
            move()
            self._fd = _open(self.path)
            self._sync_fd = self._dup(self._fd) if self._flusher is not None else self._fd
        except AuditWriteError as exc:
            raise self.fail(exc) from exc
        self.size = 0

    def close(self) -> None:
        """Make the trail durable (unless ``fsync: never``), stop the flusher, close the files.

        Raises:
            AuditWriteError: the failure that made the trail unusable, after closing.
        """
        with self.lock:
            if self._closed:
                return
            self._closed = True
            self.lock.notify_all()
            self._jobs.put(_STOP)
        if self._flusher is not None:
            self._flusher.join()
        try:
            if self._failure is None and self._mode != "never":
                self.sync()
            self._write_head(self._head.seq, self._head.hash)
        finally:
            for fd in {self._fd, self._sync_fd, *self._retired, *self._unstarted_retired()}:
                if fd != _CLOSED:
                    os.close(fd)
            os.close(self._head_fd)
        if self._failure is not None:
            raise self._failure

    def durable(self) -> tuple[int, str]:
        """``(seq, hash)`` of the last record made durable (under ``never``: the last written)."""
        if self._mode == "never":
            return self._head.seq, self._head.hash
        with self._head_lock:
            return self._durable_seq, self._durable_hash

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has run."""
        return self._closed

    def _dup(self, fd: int) -> int:
        try:
            return os.dup(fd)
        except OSError as exc:
            raise self.fail(write_error(self.path, exc, "open the audit trail")) from exc

    def _room_is_full(self) -> bool:
        return self._pending + self._requested - self._done >= self._batch_records

    def _start_commit(self) -> _Commit:
        """Under the lock: the pending records become one commit for the flusher."""
        commit = _Commit(
            self._sync_fd, self._head.seq, self._head.hash, self._pending, tuple(self._retired)
        )
        self._retired = []
        self._requested += self._pending
        self._pending = 0
        return commit

    def _write_head(self, seq: int, record_hash: str) -> None:
        """Record ``seq`` as durable; a group commit that finishes late never moves it back."""
        with self._head_lock:
            if seq < 0 or seq <= self._durable_seq:
                return
            text = _HEAD_FORMAT.format(seq=seq, hash=record_hash).encode()
            try:
                os.pwrite(self._head_fd, text, 0)
            except OSError as exc:
                raise self.fail(write_error(self.path, exc, "update the audit head file")) from exc
            self._durable_seq = seq
            self._durable_hash = record_hash

    def _flush_loop(self) -> None:
        """Run the commits the writes hand over, in order, and the interval timer.

        A commit needs no lock: the writing thread is never made to wait for
        the flusher to get the trail's lock. Only when the interval is up
        with records pending does the flusher take the lock, to queue a commit
        behind the ones already handed over (commits run in the order they
        were made, so a retired descriptor is closed only after every commit
        that used it).
        """
        deadline: float | None = None
        while True:
            timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                job = self._jobs.get(timeout=timeout)
            except queue.Empty:
                deadline = None
                with self.lock:
                    if self._pending and self._failure is None:
                        self._jobs.put(self._start_commit())
                continue
            if job is _STOP:
                return
            if isinstance(job, _Arm):
                due = job.since + self._interval_s
                deadline = due if deadline is None else min(deadline, due)
                continue
            deadline = None
            try:
                self._finish_commit(job)
            except AuditWriteError:
                return

    def _finish_commit(self, commit: _Commit) -> None:
        """Close retired descriptors, fdatasync, count the records durable, move the head."""
        error: OSError | None = None
        try:
            for fd in commit.retired:
                os.close(fd)
            os.fdatasync(commit.fd)
        except OSError as exc:
            error = exc
        failure = (
            None if error is None else write_error(self.path, error, "make the audit trail durable")
        )
        head_failure: AuditWriteError | None = None
        if failure is None:
            try:
                self._write_head(commit.seq, commit.hash)
            except AuditWriteError as exc:
                head_failure = exc
        # Counted durable only once the head file says so: a write let through by
        # wait_for_room never finds the head file more than batch_records behind.
        self._done += commit.count
        failure = failure or head_failure
        if failure is not None or self._waiting:
            with self.lock:
                self._failure = self._failure or failure
                self.lock.notify_all()
        if failure is not None:
            raise failure from error

    def _unstarted_retired(self) -> list[int]:
        """Retired descriptors of commits the flusher never ran (it stopped on a failure)."""
        left: list[int] = []
        while True:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                return left
            if isinstance(job, _Commit):
                left.extend(job.retired)
