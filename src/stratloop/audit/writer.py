"""The append-only audit trail writer.

One line per record, written with a single ``write`` to a file opened with
``O_APPEND`` while the trail holds an exclusive lock, so two processes never
interleave lines in one file (a second writer gets :class:`AuditWriteError`).
Durability follows ``audit.fsync``: ``always`` (fdatasync after every
record), ``batch`` (group commit: durable within ``batch_interval_s`` or
``batch_records``, whichever comes first; the line still reaches the OS at
once, so a process crash loses nothing) or ``never``.

In ``batch`` mode the append that brings the pending records to half of
``batch_records`` hands a commit (descriptor, count, head) to a background
thread, which runs the fdatasync without taking the trail's lock; the first
pending record also arms the ``batch_interval_s`` timer. Appends do not wait
for the disk unless ``batch_records`` records already await durability: then
the next append waits, so a power loss can never cost more than
``batch_records`` records.

Rotation by size and by UTC day gzips the old file; retention by count and
age deletes archives only after recording what they held in
``NAME.retention.jsonl`` (a configured, audited decision). On start a torn
last line is moved aside and reported, and the chain continues from the last
complete record.
"""

from __future__ import annotations

import errno
import gzip
import json
import os
import queue
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType, TracebackType
from typing import Any, Self

from filelock import FileLock, Timeout

from stratloop._fsync import fsync_dir
from stratloop.audit import _capture
from stratloop.audit._files import TrailFiles, archive_name, iter_lines, read_content
from stratloop.audit.processors import (
    Chainer,
    ChainHead,
    Clock,
    Processor,
    Redactor,
    Stamper,
    flag_violation,
    format_timestamp,
    render,
    run_chain,
    utc_now,
)
from stratloop.audit.record import AuditRecord, schema_problem
from stratloop.config.models import AuditConfig
from stratloop.errors import AuditFormatError, AuditWriteError

__all__ = ["AuditTrail", "RecoveryReport", "TornLine"]

_HEAD_FORMAT = "{seq:020d} {hash}\n"


@dataclass(frozen=True, slots=True)
class _Commit:
    """A group commit handed to the flusher, in the order the appends made them.

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


@dataclass(frozen=True, slots=True)
class TornLine:
    """An unterminated last line found at start and moved aside."""

    path: Path
    offset: int
    size: int
    moved_to: Path

    def __str__(self) -> str:
        return (
            f"torn last line in {self.path} at byte {self.offset} ({self.size} bytes, a crash "
            f"mid-write) moved to {self.moved_to}; the chain continues from the last "
            "complete record"
        )


@dataclass(frozen=True, slots=True)
class RecoveryReport:
    """What the trail found and did when it opened."""

    torn: TornLine | None
    resumed_seq: int
    recompressed: tuple[Path, ...] = ()

    def messages(self) -> tuple[str, ...]:
        """Lines for the operator; empty when the trail opened cleanly."""
        lines = [str(self.torn)] if self.torn else []
        lines += [f"finished an interrupted compression of {path}" for path in self.recompressed]
        return tuple(lines)


class AuditTrail:
    """Appends records to the trail at ``config.path``.

    Args:
        config: the ``audit`` section.
        run_id: the run's id; every appended record must carry it.
        instance_id: this process's id; every appended record must carry it.
        clock: the time source for timestamps, daily rotation and retention.
        path: overrides ``config.path`` (e.g. the environment's audit path).
        environ: where the API key named by the snapshot is looked up for redaction.

    Raises:
        AuditWriteError: the directory cannot be written or another process holds the trail.
        AuditFormatError: the last complete record of the trail is not a valid record.
    """

    def __init__(
        self,
        config: AuditConfig,
        *,
        run_id: str,
        instance_id: str,
        clock: Clock = utc_now,
        path: Path | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.config = config
        self.run_id = run_id
        self.instance_id = instance_id
        self.path = Path(config.path if path is None else path)
        self._clock = clock
        self._redactor = Redactor(environ)
        self._head = ChainHead()
        self._chain: tuple[Processor, ...] = (
            Stamper(clock),
            flag_violation,
            self._redactor,
            Chainer(self._head),
        )
        self._cond = threading.Condition()
        self._jobs: queue.SimpleQueue[_Commit | _Arm | None] = queue.SimpleQueue()
        self._pending = 0
        self._requested = 0
        self._done = 0
        self._waiting = 0
        self._commit_at = max(1, (config.batch_records + 1) // 2)
        self._head_seq = -1
        self._head_lock = threading.Lock()
        self._retired: list[int] = []
        self._failure: AuditWriteError | None = None
        self._closed = False
        self._last_audit_ms: float | None = None
        self._file_first_seq: int | None = None
        self._file_day: str | None = None
        self.last_append_us = 0.0
        """Wall time of the last :meth:`append`, in microseconds."""
        self._lock = self._acquire_lock()
        try:
            self.recovery = self._recover()
            self._fd = self._open(self.path)
            self._head_fd = self._open(self.path.with_name(self.path.name + ".head"), append=False)
            self._sync_fd = self._dup(self._fd) if config.fsync == "batch" else self._fd
        except BaseException:
            self._lock.release()
            raise
        self._size = os.fstat(self._fd).st_size
        self._flusher: threading.Thread | None = None
        if config.fsync == "batch":
            self._flusher = threading.Thread(
                target=self._flush_loop, name="audit-group-commit", daemon=True
            )
            self._flusher.start()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def head(self) -> tuple[int, str]:
        """``(seq, hash)`` of the last record written (seq -1 for an empty trail)."""
        return self._head.seq, self._head.hash

    def append(self, record: AuditRecord) -> Mapping[str, Any]:
        """Stamp, flag, redact, chain and write one record; return it as written.

        Raises:
            AuditWriteError: the record could not be written (the trail is then unusable).
            AuditFormatError: the record belongs to another run or instance, or is not JSON data.
        """
        started = time.perf_counter()
        if record.run_id != self.run_id or record.instance_id != self.instance_id:
            raise AuditFormatError(
                f"record of run {record.run_id!r}/instance {record.instance_id!r} appended to the "
                f"trail of run {self.run_id!r}/instance {self.instance_id!r}"
            )
        body = record.body()
        body["timings"]["audit_ms"] = self._last_audit_ms
        with self._cond:
            self._check_usable()
            self._wait_for_room()
            body = run_chain(self._chain, body)
            record_hash, line = self._render(body)
            if self._needs_rotation(body["timestamp"], len(line)):
                self._rotate()
            self._write(line, body["seq"])
            self._head.seq = body["seq"]
            self._head.hash = record_hash
            if self._file_first_seq is None:
                self._file_first_seq = body["seq"]
                self._file_day = body["timestamp"][:10]
            self._after_write()
        written = MappingProxyType(body)
        if _capture.active:
            _capture.notify(written)
        elapsed = time.perf_counter() - started
        self.last_append_us = elapsed * 1e6
        self._last_audit_ms = round(elapsed * 1e3, 4)
        return written

    def flush(self) -> None:
        """Make every written record durable now, whatever the fsync policy."""
        with self._cond:
            self._check_usable()
            self._sync()

    def close(self) -> None:
        """Make the trail durable (unless ``fsync: never``), stop the flusher, release the lock."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._cond.notify_all()
            self._jobs.put(_STOP)
        if self._flusher is not None:
            self._flusher.join()
        try:
            if self._failure is None and self.config.fsync != "never":
                self._sync()
            self._write_head(self._head.seq, self._head.hash)
        finally:
            for fd in {self._fd, self._sync_fd, *self._retired, *self._unstarted_retired()}:
                os.close(fd)
            os.close(self._head_fd)
            self._lock.release()
        if self._failure is not None:
            raise self._failure

    def _render(self, body: dict[str, Any]) -> tuple[str, bytes]:
        try:
            record_hash, line = render(body)
            if self._redactor.secrets and self._redactor.leaks(line):
                body.update(self._redactor.scrub(body))
                del body["hash"]
                record_hash, line = render(body)
        except (TypeError, ValueError) as exc:
            raise AuditFormatError(f"audit record is not JSON data: {exc}") from exc
        return record_hash, line

    def _check_usable(self) -> None:
        if self._failure is not None:
            raise self._failure
        if self._closed:
            raise AuditWriteError(f"audit trail {self.path} is closed")

    def _acquire_lock(self) -> FileLock:
        lock_path = self.path.with_name(self.path.name + ".lock")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            lock = FileLock(lock_path, timeout=0)
            lock.acquire()
        except Timeout as exc:
            raise AuditWriteError(
                f"audit trail {self.path} is in use by another process (lock {lock_path}); "
                "give each instance its own audit.path"
            ) from exc
        except OSError as exc:
            raise _write_error(self.path, exc, "open the audit trail") from exc
        return lock

    def _dup(self, fd: int) -> int:
        try:
            return os.dup(fd)
        except OSError as exc:
            self._failure = _write_error(self.path, exc, "open the audit trail")
            raise self._failure from exc

    def _open(self, path: Path, *, append: bool = True) -> int:
        flags = os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC | (os.O_APPEND if append else 0)
        try:
            return os.open(path, flags, 0o644)
        except OSError as exc:
            raise _write_error(path, exc, "open the audit trail") from exc

    def _recover(self) -> RecoveryReport:
        recompressed = self._finish_compressions() if self.config.compress else ()
        data = self._read_live()
        torn = self._move_torn_tail(data)
        first, last = _first_and_last(self.path, data)
        if last is None:
            last = self._last_archived()
        if last is not None:
            self._head.seq, self._head.hash = last["seq"], last["hash"]
        self._file_first_seq = None if first is None else first["seq"]
        self._file_day = None if first is None else first["timestamp"][:10]
        return RecoveryReport(torn, self._head.seq + 1, recompressed)

    def _finish_compressions(self) -> tuple[Path, ...]:
        done = []
        for leftover in self.path.parent.glob(f"{self.path.stem}.*.jsonl.gz.tmp"):
            leftover.unlink()
        for archive in TrailFiles.of(self.path).archives:
            if archive.suffix != ".gz":
                self._compress(archive)
                done.append(archive)
        return tuple(done)

    def _read_live(self) -> bytes:
        """The live file as it is at open (empty when there is none), read once for recovery."""
        try:
            return self.path.read_bytes()
        except FileNotFoundError:
            return b""
        except OSError as exc:
            raise _write_error(self.path, exc, "read the audit trail") from exc

    def _move_torn_tail(self, data: bytes) -> TornLine | None:
        """Move an unterminated last line of the live file (``data``) aside."""
        end = data.rfind(b"\n") + 1
        if end == len(data):
            return None
        stamp = format_timestamp(self._clock()).replace(":", "").replace("-", "")
        moved_to = self.path.with_name(f"{self.path.name}.{stamp}.torn")
        try:
            with moved_to.open("wb") as handle:
                handle.write(data[end:])
                handle.flush()
                os.fsync(handle.fileno())
            with self.path.open("r+b") as handle:
                handle.truncate(end)
                os.fsync(handle.fileno())
        except OSError as exc:
            raise _write_error(self.path, exc, "move a torn last line aside") from exc
        return TornLine(self.path, end, len(data) - end, moved_to)

    def _last_archived(self) -> dict[str, Any] | None:
        files = TrailFiles.of(self.path)
        if files.archives:
            archive = files.archives[-1]
            return _first_and_last(archive, read_content(archive))[1]
        if files.retention_log.exists():
            entries = [json.loads(raw.text) for raw in iter_lines(files.retention_log)]
            if entries:
                last = max(entries, key=lambda entry: entry["last_seq"])
                return {"seq": last["last_seq"], "hash": last["last_hash"]}
        return None

    def _needs_rotation(self, timestamp: str, size: int) -> bool:
        if self._size == 0:
            return False
        if self._size + size > self.config.rotate_max_bytes:
            return True
        return self.config.rotate_daily and timestamp[:10] != self._file_day

    def _write(self, line: bytes, seq: int) -> None:
        offset = self._size
        view = memoryview(line)
        try:
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
        except OSError as exc:
            self._failure = _write_error(self.path, exc, f"write record seq {seq}")
            try:
                os.ftruncate(self._fd, offset)
            except OSError:
                self._failure = AuditWriteError(
                    f"{self._failure}; the partial line could not be removed, so the next start "
                    "will move it aside as a torn line"
                )
            raise self._failure from exc
        self._size += len(line)

    def _wait_for_room(self) -> None:
        """Under ``batch``, wait while ``batch_records`` records already await durability.

        The flusher updates ``_done`` without the lock; registering in
        ``_waiting`` before reading it means the flusher sees the registration
        whenever it finishes a commit this append could be waiting for.
        """
        if self.config.fsync != "batch" or not self._room_is_full():
            return
        self._waiting += 1
        try:
            while self._room_is_full():
                self._cond.wait()
                self._check_usable()
        finally:
            self._waiting -= 1

    def _room_is_full(self) -> bool:
        return self._pending + self._requested - self._done >= self.config.batch_records

    def _after_write(self) -> None:
        """Sync, or count the record and hand the flusher a timer or a commit (under the lock)."""
        mode = self.config.fsync
        if mode == "always":
            self._sync()
        elif mode == "batch":
            self._pending += 1
            if self._pending == 1:
                self._pending_since = time.monotonic()
                self._jobs.put(_Arm(self._pending_since))
            if self._pending >= self._commit_at:
                self._jobs.put(self._start_commit())

    def _start_commit(self) -> _Commit:
        """Under the lock: the pending records become one commit for the flusher."""
        commit = _Commit(
            self._sync_fd, self._head.seq, self._head.hash, self._pending, tuple(self._retired)
        )
        self._retired = []
        self._requested += self._pending
        self._pending = 0
        return commit

    def _sync(self) -> None:
        """Make every written record durable now, on the caller's thread."""
        try:
            os.fdatasync(self._fd)
        except OSError as exc:
            self._failure = _write_error(self.path, exc, "make the audit trail durable")
            raise self._failure from exc
        self._pending = 0
        self._write_head(self._head.seq, self._head.hash)

    def _write_head(self, seq: int, record_hash: str) -> None:
        """Record ``seq`` as durable; a group commit that finishes late never moves it back."""
        with self._head_lock:
            if seq < 0 or seq <= self._head_seq:
                return
            text = _HEAD_FORMAT.format(seq=seq, hash=record_hash).encode()
            try:
                os.pwrite(self._head_fd, text, 0)
            except OSError as exc:
                self._failure = _write_error(self.path, exc, "update the audit head file")
                raise self._failure from exc
            self._head_seq = seq

    def _flush_loop(self) -> None:
        """Run the commits the appends hand over, in order, and the interval timer.

        A commit needs no lock: the appending thread is never made to wait
        for the flusher to get the trail's lock. Only when the interval is up
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
                with self._cond:
                    if self._pending and self._failure is None:
                        self._jobs.put(self._start_commit())
                continue
            if job is _STOP:
                return
            if isinstance(job, _Arm):
                due = job.since + self.config.batch_interval_s
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
        self._done += commit.count
        failure = (
            None
            if error is None
            else _write_error(self.path, error, "make the audit trail durable")
        )
        if failure is not None or self._waiting:
            with self._cond:
                self._failure = self._failure or failure
                self._cond.notify_all()
        if failure is not None:
            raise failure from error
        self._write_head(commit.seq, commit.hash)

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

    def _rotate(self) -> None:
        assert self._file_first_seq is not None
        self._sync()
        os.close(self._fd)
        name = archive_name(self.path.stem, self._file_first_seq, compressed=False)
        plain = self.path.with_name(name)
        try:
            self.path.rename(plain)
            if self.config.compress:
                self._compress(plain)
        except OSError as exc:
            self._failure = _write_error(self.path, exc, "rotate the audit trail")
            raise self._failure from exc
        self._fd = self._open(self.path)
        if self._flusher is not None:
            self._retired.append(self._sync_fd)
            self._sync_fd = self._dup(self._fd)
        else:
            self._sync_fd = self._fd
        self._size = 0
        self._file_first_seq = None
        self._file_day = None
        self._apply_retention()

    def _compress(self, plain: Path) -> None:
        final = plain.with_name(plain.name + ".gz")
        tmp = plain.with_name(plain.name + ".gz.tmp")
        with tmp.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as packed:
            packed.write(plain.read_bytes())
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        tmp.rename(final)
        plain.unlink()
        fsync_dir(plain.parent)

    def _apply_retention(self) -> None:
        archives = list(TrailFiles.of(self.path).archives)
        now = self._clock().timestamp()
        max_age = self.config.retention_days * 86_400
        doomed: list[tuple[Path, str]] = []
        excess = len(archives) - self.config.retention_files
        for index, archive in enumerate(archives):
            if index < excess:
                doomed.append((archive, f"retention_files={self.config.retention_files}"))
            elif now - archive.stat().st_mtime > max_age:
                doomed.append((archive, f"retention_days={self.config.retention_days}"))
        for archive, reason in doomed:
            self._delete_archive(archive, reason)

    def _delete_archive(self, archive: Path, reason: str) -> None:
        lines = [raw for raw in iter_lines(archive) if raw.terminated]
        first, last = json.loads(lines[0].text), json.loads(lines[-1].text)
        entry = {
            "file": archive.name,
            "first_seq": first["seq"],
            "last_seq": last["seq"],
            "last_hash": last["hash"],
            "records": len(lines),
            "first_timestamp": first["timestamp"],
            "last_timestamp": last["timestamp"],
            "reason": reason,
            "deleted_at": format_timestamp(self._clock()),
        }
        log = TrailFiles.of(self.path).retention_log
        try:
            with log.open("ab") as handle:
                handle.write((json.dumps(entry, sort_keys=True) + "\n").encode())
                handle.flush()
                os.fsync(handle.fileno())
            archive.unlink()
        except OSError as exc:
            self._failure = _write_error(log, exc, "apply audit retention")
            raise self._failure from exc


def _first_and_last(path: Path, data: bytes) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """The first and last complete records of ``data`` (the lines of ``path``), schema-checked.

    Only the two edge lines are parsed: recovery scans the live file once, however long it is.
    """
    edges = _edge_lines(data)
    if edges is None:
        return None, None
    first, last = (_parse_edge(path, line_no, text) for line_no, text in edges)
    return first, last


def _edge_lines(data: bytes) -> tuple[tuple[int, bytes], tuple[int, bytes]] | None:
    """``(line number, text)`` of the first and last non-blank terminated lines, or None."""
    end = data.rfind(b"\n")
    start, number = 0, 1
    while start <= end:
        stop = data.index(b"\n", start)
        if data[start:stop].strip():
            first = (number, data[start:stop])
            break
        start, number = stop + 1, number + 1
    else:
        return None
    stop = end
    while True:
        start = data.rfind(b"\n", 0, stop) + 1
        if data[start:stop].strip():
            return first, (data.count(b"\n", 0, start) + 1, data[start:stop])
        stop = start - 1


def _parse_edge(path: Path, line_no: int, text: bytes) -> dict[str, Any]:
    try:
        obj = json.loads(text)
    except ValueError as exc:
        raise AuditFormatError(
            f"{path}:{line_no}: the trail's record is not JSON ({exc}); run "
            "`stratloop audit verify` and move the damaged file aside before writing again"
        ) from exc
    problem = schema_problem(obj)
    if problem:
        raise AuditFormatError(
            f"{path}:{line_no}: the trail's record is invalid ({problem}); run "
            "`stratloop audit verify` and move the damaged file aside before writing again"
        )
    result: dict[str, Any] = obj
    return result


def _write_error(path: Path, exc: OSError, action: str) -> AuditWriteError:
    fixes = {
        errno.ENOSPC: "free disk space or point audit.path at a larger disk",
        errno.EDQUOT: "raise the disk quota or point audit.path elsewhere",
        errno.EROFS: "the file system is read-only; point audit.path at a writable directory",
        errno.EACCES: "make the directory writable or point audit.path elsewhere",
        errno.EPERM: "make the directory writable or point audit.path elsewhere",
    }
    fix = fixes.get(exc.errno or 0, "check the disk and audit.path")
    return AuditWriteError(
        f"could not {action} at {path}: {exc.strerror or exc} (errno {exc.errno}); {fix}. "
        "The loop stops rather than run without its audit record"
    )
