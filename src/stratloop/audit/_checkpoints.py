"""Signed checkpoints of a trail's durable head, and key rotations, in ``NAME.checkpoints.jsonl``.

A checkpoint says "at ``time`` the chain was durable up to ``seq``, whose hash
is ``hash``", HMAC-signed when the trail is keyed. The writer appends one
every ``audit.checkpoint_interval_s`` and when it closes; an external system
that copies the last one (Prometheus scraping ``/metrics``, a log shipper
tailing the file) anchors the trail: records up to that seq can no longer be
cut or rewritten unnoticed, even by someone who holds the key. A key rotation
entry says from which seq records are signed by a new key, signed by the new
key and by the old one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stratloop._fsync import write_synced
from stratloop.audit._files import TrailFiles
from stratloop.audit._keys import Key, sign_entry
from stratloop.audit._write_error import write_error
from stratloop.audit.processors import Clock, format_timestamp
from stratloop.errors import AuditFormatError

__all__ = ["Checkpoint", "CheckpointLog", "checkpoint_of", "last_checkpoint"]

_TAIL_BYTES = 4096
"""Enough of the log's end to hold its last entry (an entry is ~250 bytes)."""


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """The durable head of a trail at a moment, as the writer signed it.

    Args:
        seq: the last durable record's seq.
        hash: that record's hash.
        time: when the checkpoint was taken (UTC ISO 8601).
        key_id: the id of the key that signed it, None for an unkeyed trail.
        sig: the HMAC over the other fields, None for an unkeyed trail.
    """

    seq: int
    hash: str
    time: str
    key_id: str | None
    sig: str | None


def checkpoint_of(entry: Mapping[str, Any]) -> Checkpoint:
    """The checkpoint an entry of kind ``checkpoint`` holds.

    Raises:
        AuditFormatError: a field is missing or has the wrong type.
    """
    try:
        seq, record_hash, time = entry["seq"], entry["hash"], entry["time"]
    except KeyError as exc:
        raise AuditFormatError(f"checkpoint entry {dict(entry)} lacks {exc}") from exc
    if not isinstance(seq, int) or not isinstance(record_hash, str) or not isinstance(time, str):
        raise AuditFormatError(f"checkpoint entry {dict(entry)} has a field of the wrong type")
    key_id, sig = entry.get("key_id"), entry.get("sig")
    return Checkpoint(
        seq,
        record_hash,
        time,
        key_id if isinstance(key_id, str) else None,
        sig if isinstance(sig, str) else None,
    )


def last_checkpoint(live: Path) -> Checkpoint | None:
    """The last checkpoint of the trail whose live file is ``live``; None before the first.

    Reads only the end of the log, so it is cheap enough for every ``/metrics`` scrape.

    Raises:
        AuditFormatError: the log's last entry is not a checkpoint entry.
    """
    path = TrailFiles(live, ()).checkpoints
    try:
        with path.open("rb") as handle:
            size = handle.seek(0, 2)
            start = max(0, size - _TAIL_BYTES)
            handle.seek(start)
            tail = handle.read()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise AuditFormatError(f"cannot read audit checkpoints {path}: {exc}") from exc
    lines = tail.split(b"\n")
    lines.pop()  # an unterminated last line was never completed; a terminated one leaves b""
    for text in reversed(lines if start == 0 else lines[1:]):
        try:
            entry = json.loads(text)
        except ValueError as exc:
            raise AuditFormatError(f"{path}: checkpoint entry is not JSON: {exc}") from exc
        if isinstance(entry, dict) and entry.get("kind") == "checkpoint":
            return checkpoint_of(entry)
    return None


class CheckpointLog:
    """Appends signed entries to the checkpoint log of live file ``live``.

    Args:
        live: the trail's live file.
        key: the signing key, None for an unkeyed trail (entries are then unsigned).
        clock: the time source of each entry.
    """

    def __init__(self, live: Path, key: Key | None, clock: Clock) -> None:
        self.path = TrailFiles(live, ()).checkpoints
        self._key = key
        self._clock = clock
        last = last_checkpoint(live)
        self.last_seq = -1 if last is None else last.seq
        """The seq of the last checkpoint in the log."""

    def checkpoint(self, seq: int, record_hash: str) -> None:
        """Append a checkpoint of the durable head ``seq``/``record_hash`` (once per seq).

        Raises:
            AuditWriteError: the log could not be written.
        """
        if seq < 0 or seq <= self.last_seq:
            return
        self._append(
            {
                "kind": "checkpoint",
                "seq": seq,
                "hash": record_hash,
                "time": format_timestamp(self._clock()),
            },
        )
        self.last_seq = seq

    def rotation(self, seq: int, prev_hash: str, old: Key | None, new: Key) -> None:
        """Record that records from ``seq`` on are signed by ``new`` (after ``old``, or unkeyed).

        Raises:
            AuditWriteError: the log could not be written.
        """
        self._append(
            {
                "kind": "key_rotation",
                "seq": seq,
                "prev_hash": prev_hash,
                "from_key_id": None if old is None else old.id,
                "to_key_id": new.id,
                "time": format_timestamp(self._clock()),
            },
            also=old,
        )

    def _append(self, entry: dict[str, Any], also: Key | None = None) -> None:
        signed = sign_entry(entry, self._key, also=also)
        try:
            write_synced(
                self.path, (json.dumps(signed, sort_keys=True) + "\n").encode(), append=True
            )
        except OSError as exc:
            raise write_error(self.path, exc, "append an audit checkpoint") from exc
