"""The append-only audit trail writer.

One line per record, written with a single ``write`` to a file opened with
``O_APPEND`` while the trail holds an exclusive lock that deleting lock files
does not undo (:mod:`stratloop.audit._lock`, verified before every append), so
two processes never interleave lines in one file (a second writer gets
:class:`AuditWriteError` naming the first).
:class:`AuditTrail` runs each record through the processors (stamp, flag,
redact, chain) and hands the line to its parts: the appender (the live file
and the ``audit.fsync`` policy, with group commit under ``batch``), rotation
and retention (by size and UTC day, zstd, retention by count and age with
its log), and recovery (interrupted compressions, a torn last line moved
aside, the chain head) when it opens.

With ``audit.key_env`` or ``audit.key_file`` the chain is HMAC-SHA256 under
the signing key (records carry its ``key_id``), a changed key is recorded as
a signed rotation, and retention entries are signed. Every
``checkpoint_interval_s`` and at close the durable head is appended to the
checkpoint log. The configuration snapshot is written in full in the first
record of each file and whenever it changes; other records reference it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, Self

from stratloop.audit import _capture
from stratloop.audit._appender import Appender
from stratloop.audit._checkpoints import CheckpointLog
from stratloop.audit._keys import Keyring, load_keyring
from stratloop.audit._lock import TrailLock
from stratloop.audit._recovery import RecoveryReport, TornLine, recover
from stratloop.audit._rotation import Rotation
from stratloop.audit._snapshots import reference, referenced_hash
from stratloop.audit.processors import (
    Chainer,
    ChainHead,
    Clock,
    Processor,
    Redactor,
    Stamper,
    flag_violation,
    render,
    run_chain,
    utc_now,
)
from stratloop.audit.record import AuditRecord, HoldoutAuditRecord
from stratloop.config.models import AuditConfig
from stratloop.errors import AuditFormatError, AuditKeyError, AuditWriteError

__all__ = ["AuditTrail", "RecoveryReport", "TornLine"]


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
        self._redactor = Redactor(environ)
        keyring = load_keyring(
            config.key_env, config.key_file, os.environ if environ is None else environ
        )
        self._key = None if keyring is None else keyring.signing
        self._head = ChainHead()
        self._chain: tuple[Processor, ...] = (
            Stamper(clock),
            flag_violation,
            self._redactor,
            Chainer(self._head, None if self._key is None else self._key.id),
        )
        self._last_audit_ms: float | None = None
        self._file_config_hash: str | None = None
        self._checkpoint_every = config.checkpoint_interval_s
        self._checkpoint_at = time.perf_counter() + config.checkpoint_interval_s
        """Wall time of the last :meth:`append`, in microseconds."""
        self._lock = TrailLock.acquire(self.path)
        try:
            recovered = recover(self.path, clock, compress=config.compress)
            if recovered.head is not None:
                self._head.seq, self._head.hash = recovered.head
            self.recovery = recovered.report
            self._checkpoints = CheckpointLog(self.path, self._key, clock)
            if recovered.head is not None:
                self._rotate_key(keyring, recovered.key_id)
            self._rotation = Rotation(self.path, config, clock, recovered.live_first, self._key)
            self._appender = Appender(self.path, config, self._head)
            if recovered.head is not None:
                self._appender.sync()
        except BaseException:
            self._lock.release()
            raise

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @property
    def head(self) -> tuple[int, str]:
        """``(seq, hash)`` of the last record written (seq -1 for an empty trail)."""
        return self._head.seq, self._head.hash

    def append(self, record: AuditRecord | HoldoutAuditRecord) -> Mapping[str, Any]:
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
        appender = self._appender
        with appender.lock:
            appender.check_usable()
            try:
                self._lock.verify()
            except AuditWriteError as exc:
                raise appender.fail(exc) from exc
            appender.wait_for_room()
            try:
                self._rotation.check()
            except AuditWriteError as exc:
                raise appender.fail(exc) from exc
            body = run_chain(self._chain, body)
            snapshot = body["config_snapshot"]
            config_hash = body["config_hash"]
            if config_hash == self._file_config_hash:
                body["config_snapshot"] = reference(config_hash)
            record_hash, line = self._render(body)
            timestamp = body["timestamp"]
            if self._rotation.due(appender.size, timestamp, len(line)):
                self._rotate()
                if body["config_snapshot"] is not snapshot:
                    body["config_snapshot"] = snapshot
                    del body["hash"]
                    record_hash, line = self._render(body)
            appender.write(line, body["seq"], record_hash)
            self._file_config_hash = config_hash
            self._rotation.started(body["seq"], timestamp)
            self._checkpoint(started)
        if referenced_hash(body["config_snapshot"]) is not None:
            body["config_snapshot"] = snapshot  # hand out the record as readers resolve it
        written = MappingProxyType(body)
        if _capture.active:
            _capture.notify(written)
        self._last_audit_ms = round((time.perf_counter() - started) * 1e3, 4)
        return written

    def flush(self) -> None:
        """Make every written record durable now, whatever the fsync policy."""
        with self._appender.lock:
            self._appender.check_usable()
            self._appender.sync()

    def close(self) -> None:
        """Make the trail durable (unless ``fsync: never``), finish compressions, unlock."""
        if self._appender.closed:
            return
        try:
            self._appender.close()
            self._checkpoints.checkpoint(*self._appender.durable())
        finally:
            try:
                self._rotation.wait()  # no other writer may open the trail mid-compression
            finally:
                self._lock.release()

    @property
    def key_id(self) -> str | None:
        """The id of the key records are signed with (None: an unkeyed SHA-256 chain)."""
        return None if self._key is None else self._key.id

    def _checkpoint(self, now: float) -> None:
        """Every ``checkpoint_interval_s``, checkpoint the durable head (under the lock)."""
        if now < self._checkpoint_at:
            return
        seq, record_hash = self._appender.durable()
        if seq > self._checkpoints.last_seq:
            try:
                self._checkpoints.checkpoint(seq, record_hash)
            except AuditWriteError as exc:
                raise self._appender.fail(exc) from exc
            self._checkpoint_at = now + self._checkpoint_every

    def _rotate_key(self, keyring: Keyring | None, last_key_id: str | None) -> None:
        """Continue a non-empty trail: same key, or a signed rotation entry for the new one.

        Raises:
            AuditKeyError: the trail is keyed but no key is configured, or the key that
                signed its last record is not in the keyring (so the rotation cannot be
                signed by it).
        """
        current = None if self._key is None else self._key.id
        if current == last_key_id:
            return
        if keyring is None or self._key is None:
            raise AuditKeyError(
                f"audit trail {self.path} is HMAC-signed (key {last_key_id}) but no key is "
                "configured; set audit.key_env or audit.key_file to its key (a keyed trail is "
                "never continued unsigned)"
            )
        old = None
        if last_key_id is not None:
            old = keyring.get(last_key_id)
            if old is None:
                raise AuditKeyError(
                    f"audit trail {self.path} is signed by key {last_key_id}, which "
                    f"{keyring.source} does not hold; to rotate keys keep the old key in the key "
                    "material, before the new one (the rotation is signed by both)"
                )
        self._checkpoints.rotation(self._head.seq + 1, self._head.hash, old, self._key)

    def _render(self, body: dict[str, Any]) -> tuple[str, bytes]:
        try:
            record_hash, line = render(body, self._key)
            if self._redactor.secrets and self._redactor.leaks(line):
                body.update(self._redactor.scrub(body))
                del body["hash"]
                record_hash, line = render(body, self._key)
        except (TypeError, ValueError) as exc:
            raise AuditFormatError(f"audit record is not JSON data: {exc}") from exc
        return record_hash, line

    def _rotate(self) -> None:
        """Archive the live file, continue in a fresh one, then apply retention (under the lock)."""
        self._appender.reopen(self._rotation.archive)
        try:
            self._rotation.retain()
        except AuditWriteError as exc:
            raise self._appender.fail(exc) from exc

