"""The processor chain every record goes through before it is written.

Each step is a small named callable ``(record dict) -> record dict``, in the
spirit of structlog's processors: :class:`Stamper` adds the UTC timestamp,
:func:`flag_violation` recomputes the decision, :class:`Redactor` removes
secrets, :class:`Chainer` adds ``seq`` and ``prev_hash``. :func:`render`
then serialises canonically and appends ``hash``; the trail commits the new
chain head only once the line is written.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

from stratloop.audit._canonical import GENESIS_HASH, canonical_json
from stratloop.audit._keys import Key
from stratloop.audit.violations import record_violation
from stratloop.redaction import REDACTED, is_secret_key

__all__ = [
    "REDACTED",
    "ChainHead",
    "Chainer",
    "Clock",
    "Processor",
    "ProcessorChain",
    "RecordDict",
    "Redactor",
    "Stamper",
    "flag_violation",
    "format_timestamp",
    "render",
    "run_chain",
    "utc_now",
]

RecordDict: TypeAlias = dict[str, Any]
"""A record while it travels through the chain (private to the trail, never shared)."""

Processor: TypeAlias = Callable[[RecordDict], RecordDict]
"""One named step of the chain."""

ProcessorChain: TypeAlias = Sequence[Processor]
"""The steps, applied in order."""

Clock: TypeAlias = Callable[[], dt.datetime]
"""Returns the current time as an aware datetime."""

_SNAPSHOT_MARK = "\x00config_snapshot\x00"
_SNAPSHOT_SLOT = '"config_snapshot":' + json.dumps(_SNAPSHOT_MARK)
_SNAPSHOT_KEY = b'"config_snapshot":'


def utc_now() -> dt.datetime:
    """The default clock."""
    return dt.datetime.now(dt.UTC)


def format_timestamp(moment: dt.datetime) -> str:
    """UTC ISO 8601 with microseconds and a ``Z``."""
    return moment.astimezone(dt.UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


@dataclass(frozen=True, slots=True)
class Stamper:
    """Adds ``timestamp`` from the clock."""

    clock: Clock = utc_now

    def __call__(self, record: RecordDict) -> RecordDict:
        """Add the timestamp."""
        record["timestamp"] = format_timestamp(self.clock())
        return record


def flag_violation(record: RecordDict) -> RecordDict:
    """Sets ``violation`` and ``violation_reason`` with the checker ``verify`` uses."""
    reason = record_violation(record)
    record["violation"] = reason is not None
    record["violation_reason"] = reason
    return record


_KEY_VERDICTS: dict[str, bool] = {}
_KEY_VERDICTS_MAX = 4096
_LEAVES = frozenset({str, int, float, bool, type(None)})


def _is_secret_key(key: str) -> bool:
    """Whether ``key`` looks like a secret; memoised, since the same keys recur every record."""
    verdict = _KEY_VERDICTS.get(key)
    if verdict is None:
        verdict = is_secret_key(key)
        if len(_KEY_VERDICTS) < _KEY_VERDICTS_MAX:
            _KEY_VERDICTS[key] = verdict
    return verdict


def _redact_keys(value: Any) -> Any:
    if type(value) in _LEAVES:
        return value
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if _is_secret_key(key) and item is not None:
                out[key] = REDACTED
            else:
                out[key] = item if type(item) in _LEAVES else _redact_keys(item)
        return out
    if isinstance(value, list):
        return [_redact_keys(item) for item in value]
    return value


def _replace_values(value: Any, secrets: tuple[str, ...]) -> Any:
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, REDACTED)
        return value
    if isinstance(value, Mapping):
        return {key: _replace_values(item, secrets) for key, item in value.items()}
    if isinstance(value, list):
        return [_replace_values(item, secrets) for item in value]
    return value


class Redactor:
    """Defence in depth: secret-looking keys and the configured API key never reach disk.

    The snapshot should already be redacted by the configuration layer; this
    step replaces the value of any key that looks like a secret (``api_key``,
    ``token``, ``password`` …; ``*_env`` keys name variables and are kept) in
    the snapshot and in the caller-supplied mappings (flags, metrics, timings,
    LLM usage). The API key held in the environment variable that the
    snapshot's ``llm.api_key_env`` names is replaced wherever it appears; the
    trail checks each rendered line with :meth:`leaks` and re-renders through
    :meth:`scrub` when it is found. Redacted snapshots are cached by
    identity, so an unchanged snapshot costs nothing per record.

    Args:
        environ: where API keys are looked up (default: ``os.environ``).
    """

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = os.environ if environ is None else environ
        self._cache: dict[int, tuple[Mapping[str, Any], Mapping[str, Any]]] = {}
        self.secrets: tuple[str, ...] = ()

    def _secrets(self, snapshot: Mapping[str, Any]) -> tuple[str, ...]:
        llm = snapshot.get("llm")
        variable = llm.get("api_key_env") if isinstance(llm, Mapping) else None
        key = self._environ.get(variable) if isinstance(variable, str) else None
        if not key or len(key) < 4:
            return ()
        escaped = json.dumps(key, ensure_ascii=False)[1:-1]
        return (key,) if escaped == key else (key, escaped)

    def _snapshot(self, snapshot: Mapping[str, Any]) -> Mapping[str, Any]:
        cached = self._cache.get(id(snapshot))
        if cached is not None and cached[0] is snapshot:
            return cached[1]
        self.secrets = self._secrets(snapshot)
        redacted: Mapping[str, Any] = _replace_values(_redact_keys(snapshot), self.secrets)
        if len(self._cache) > 64:
            self._cache.clear()
        self._cache[id(snapshot)] = (snapshot, redacted)
        return redacted

    def __call__(self, record: RecordDict) -> RecordDict:
        """Redact secret-looking keys in the snapshot and the caller-supplied mappings."""
        record["config_snapshot"] = self._snapshot(record["config_snapshot"])
        for name in ("flags", "timings", "llm_usage"):
            if record.get(name) is not None:
                record[name] = _redact_keys(record[name])
        outcome = record["outcome"]
        if outcome.get("metrics") is not None:
            outcome["metrics"] = _redact_keys(outcome["metrics"])
        return record

    def leaks(self, line: bytes) -> bool:
        """True when a secret value occurs in a rendered line."""
        return any(secret.encode() in line for secret in self.secrets)

    def scrub(self, record: RecordDict) -> RecordDict:
        """Replace every occurrence of a secret value in every field."""
        return {key: _replace_values(value, self.secrets) for key, value in record.items()}


@dataclass(slots=True)
class ChainHead:
    """The last committed record of a trail: the next one continues from it."""

    seq: int = -1
    hash: str = GENESIS_HASH


@dataclass(frozen=True, slots=True)
class Chainer:
    """Adds ``seq`` and ``prev_hash`` from the trail's committed head (and ``key_id`` if keyed)."""

    head: ChainHead
    key_id: str | None = None

    def __call__(self, record: RecordDict) -> RecordDict:
        """Add the next seq, the previous record's hash and the signing key's id."""
        record["seq"] = self.head.seq + 1
        record["prev_hash"] = self.head.hash
        if self.key_id is not None:
            record["key_id"] = self.key_id
        return record


class _SnapshotBytes:
    """Canonical UTF-8 bytes of snapshots, cached by identity (they repeat every iteration)."""

    def __init__(self) -> None:
        self._cache: dict[int, tuple[Mapping[str, Any], bytes]] = {}

    def __call__(self, snapshot: Mapping[str, Any]) -> bytes:
        cached = self._cache.get(id(snapshot))
        if cached is not None and cached[0] is snapshot:
            return cached[1]
        data = canonical_json(snapshot).encode()
        if len(self._cache) > 64:
            self._cache.clear()
        self._cache[id(snapshot)] = (snapshot, data)
        return data


_snapshot_bytes = _SnapshotBytes()


def render(record: RecordDict, key: Key | None = None) -> tuple[str, bytes]:
    """Serialise canonically, hash, and return ``(hash, line)``; adds ``hash`` to ``record``.

    The hash is the sha256 of the canonical JSON of the record without
    ``hash`` (HMAC-SHA256 under ``key`` for a keyed trail, so that nobody
    without the key can recompute it); the line is that JSON with ``"hash"``
    appended as the last key, so ``verify`` recomputes it by removing the key
    and re-serialising. The snapshot's cached bytes are spliced in and hashed
    in place, so the constant part of a record is neither re-serialised nor copied to be hashed.
    """
    snapshot = record["config_snapshot"]
    record["config_snapshot"] = _SNAPSHOT_MARK
    try:
        text = canonical_json(record)
    finally:
        record["config_snapshot"] = snapshot
    before, found, after = text.partition(_SNAPSHOT_SLOT)
    if not found:
        msg = f"the record has no top-level config_snapshot to serialise: {text[:200]}"
        raise ValueError(msg)
    head = before.encode() + _SNAPSHOT_KEY
    snapshot_bytes = _snapshot_bytes(snapshot)
    tail = after.encode()
    hasher = hashlib.sha256() if key is None else key.hasher()
    hasher.update(head)
    hasher.update(snapshot_bytes)
    hasher.update(tail)
    record_hash: str = hasher.hexdigest()
    record["hash"] = record_hash
    line = b"".join((head, snapshot_bytes, tail[:-1], b',"hash":"', record_hash.encode(), b'"}\n'))
    return record_hash, line


def run_chain(chain: ProcessorChain, record: RecordDict) -> RecordDict:
    """Apply every processor of ``chain`` in order."""
    for processor in chain:
        record = processor(record)
    return record
