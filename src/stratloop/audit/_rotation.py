"""Rotation of the live file into archives, their compression, and retention.

The live file becomes the archive ``NAME.<first seq>.jsonl`` when the next
line would take it past ``rotate_max_bytes`` or (with ``rotate_daily``) the
next record's UTC day differs from its first; with ``compress`` the archive
is compressed with zstd (``NAME.<first seq>.jsonl.zst``, level
:data:`ZSTD_LEVEL`): DuckDB reads it as it reads gzip, and it is a quarter
smaller than gzip -9 on audit records. Archives gzipped by earlier writers
stay as they are and read as before. Retention by count (``retention_files``) and age
(``retention_days``) deletes archives only after recording what each held
in ``NAME.retention.jsonl``: a configured, audited decision, each entry
HMAC-signed on a keyed trail so that nobody without the key can forge one
to explain archives they deleted.

Compression takes seconds for a large file, so it runs on one background
thread, with the retention that follows it, in rotation order; the writer
goes on at once in the fresh live file. A background failure is raised by
the writer's next :meth:`Rotation.check` (each write) or by
:meth:`Rotation.wait` (close), never dropped; a crash leaves the plain
archive, which the next writer compresses (:func:`finish_compressions`).
Readers prefer ``.zst`` when both names exist for a moment.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import zstandard

from stratloop._fsync import fsync_dir, write_synced
from stratloop.audit._files import (
    COMPRESSED_SUFFIXES,
    TrailFiles,
    archive_name,
    archive_seq,
    iter_lines,
)
from stratloop.audit._keys import Key, sign_entry
from stratloop.audit._write_error import write_error
from stratloop.audit.processors import Clock, format_timestamp
from stratloop.config.models import AuditConfig

__all__ = ["ZSTD_LEVEL", "Rotation", "compress", "finish_compressions"]

ZSTD_LEVEL = 16
"""zstd's first level with its optimal parser: 224 bytes per record of the local run against
305 for gzip -9 and 246 for level 12 (level 19: 214). It costs ~0.26 s of CPU per MB of
records (gzip -9: 0.016; level 19: 0.6), on the background thread when a file rotates: ~13 s
for the default 50 MB file, ~0.7 ms per record. See bench/README.md, "Disk use"."""


class Rotation:
    """Decides when the live file at ``path`` rotates, archives it, and applies retention.

    Args:
        path: the live file.
        config: the ``audit`` section.
        clock: the time source for retention's age and its log.
        first: ``(seq, timestamp)`` of the live file's first record, None when it has none.
        key: the trail's signing key; each retention entry is signed with it.
    """

    def __init__(
        self,
        path: Path,
        config: AuditConfig,
        clock: Clock,
        first: tuple[int, str] | None,
        key: Key | None = None,
    ) -> None:
        self._path = path
        self._config = config
        self._clock = clock
        self._key = key
        self._first_seq: int | None = None
        self._day: str | None = None
        self._archived: int | None = None
        self._background: ThreadPoolExecutor | None = None
        self._pending: deque[Future[None]] = deque()
        if first is not None:
            self.started(*first)

    def started(self, seq: int, timestamp: str) -> None:
        """Note a record written to the live file (only its first one counts)."""
        if self._first_seq is None:
            self._first_seq = seq
            self._day = timestamp[:10]

    def due(self, size: int, timestamp: str, line_size: int) -> bool:
        """Whether a line of ``line_size`` bytes stamped ``timestamp`` starts a new file.

        ``size`` is the live file's size now; an empty file never rotates.
        """
        if size == 0:
            return False
        if size + line_size > self._config.rotate_max_bytes:
            return True
        return self._config.rotate_daily and timestamp[:10] != self._day

    def archive(self) -> None:
        """Rename the (closed) live file to its archive name; queue its compression if configured.

        Raises:
            AuditWriteError: the file could not be renamed.
        """
        assert self._first_seq is not None
        name = archive_name(self._path.stem, self._first_seq, compressed=False)
        plain = self._path.with_name(name)
        try:
            self._path.rename(plain)
        except OSError as exc:
            raise write_error(self._path, exc, "rotate the audit trail") from exc
        if self._config.compress:
            self._later(lambda: _compress_archive(plain))
        self._archived = self._first_seq
        self._first_seq = None
        self._day = None

    def retain(self) -> None:
        """Apply retention: on the background thread after pending compressions, if any.

        Raises:
            AuditWriteError: (inline only) the retention log could not be written or an
                archive deleted.
        """
        if self._config.compress:
            upto = self._archived
            self._later(lambda: self._retain(upto))
        else:
            self._retain(None)

    def check(self) -> None:
        """Raise the failure of a finished background compression or retention, if any.

        Raises:
            AuditWriteError: what the background job could not do.
        """
        while self._pending and self._pending[0].done():
            self._pending.popleft().result()

    def wait(self) -> None:
        """Finish every background job and stop the thread (the writer is closing).

        Raises:
            AuditWriteError: the first background job that failed.
        """
        try:
            while self._pending:
                self._pending.popleft().result()
        finally:
            if self._background is not None:
                self._background.shutdown(wait=True)
                self._background = None

    def _later(self, job: Callable[[], None]) -> None:
        """Run ``job`` on the background thread, after the jobs already queued."""
        if self._background is None:
            self._background = ThreadPoolExecutor(1, thread_name_prefix="audit-rotation")
        self._pending.append(self._background.submit(job))

    def _retain(self, upto: int | None) -> None:
        """Delete the archives beyond ``retention_files`` or older than ``retention_days``.

        With ``upto`` only archives starting at or before that seq count: later ones
        are still queued for compression, and the retention after theirs counts them.
        """
        archives = [
            archive
            for archive in TrailFiles.of(self._path).archives
            if upto is None or archive_seq(archive) <= upto
        ]
        now = self._clock().timestamp()
        max_age = self._config.retention_days * 86_400
        doomed: list[tuple[Path, str]] = []
        excess = len(archives) - self._config.retention_files
        for index, archive in enumerate(archives):
            if index < excess:
                doomed.append((archive, f"retention_files={self._config.retention_files}"))
            elif now - archive.stat().st_mtime > max_age:
                doomed.append((archive, f"retention_days={self._config.retention_days}"))
        for archive, reason in doomed:
            self._delete(archive, reason)

    def _delete(self, archive: Path, reason: str) -> None:
        """Log what ``archive`` held to the retention log, durably, then delete it."""
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
        entry = sign_entry(entry, self._key)
        log = TrailFiles.of(self._path).retention_log
        try:
            write_synced(log, (json.dumps(entry, sort_keys=True) + "\n").encode(), append=True)
            archive.unlink()
        except OSError as exc:
            raise write_error(log, exc, "apply audit retention") from exc


def _compress_archive(plain: Path) -> None:
    """:func:`compress`, its failure an :class:`AuditWriteError` naming the archive."""
    try:
        compress(plain)
    except OSError as exc:
        raise write_error(plain, exc, "compress the audit archive") from exc


def compress(plain: Path) -> None:
    """Replace the archive ``plain`` by ``plain.zst``, durably (through a synced ``.zst.tmp``).

    Raises:
        OSError: the archive could not be read, compressed or replaced.
    """
    final = plain.with_name(plain.name + ".zst")
    tmp = plain.with_name(plain.name + ".zst.tmp")
    packed = zstandard.ZstdCompressor(level=ZSTD_LEVEL).compress(plain.read_bytes())
    write_synced(tmp, packed)
    tmp.rename(final)
    plain.unlink()
    fsync_dir(plain.parent)


def finish_compressions(path: Path) -> tuple[Path, ...]:
    """Finish compressions a crash interrupted in the trail of ``path``; return the archives.

    A leftover ``.zst.tmp`` (or an earlier writer's ``.gz.tmp``) is dropped (its
    plain archive is still there) and every plain archive is compressed.
    """
    done = []
    for suffix in COMPRESSED_SUFFIXES:
        for leftover in path.parent.glob(f"{path.stem}.*.jsonl{suffix}.tmp"):
            leftover.unlink()
    for archive in TrailFiles.of(path).archives:
        if archive.suffix not in COMPRESSED_SUFFIXES:
            compress(archive)
            done.append(archive)
    return tuple(done)
