"""The HMAC keys of a keyed trail: where they come from, their ids, and signing.

Key material is text holding one or more keys separated by whitespace (one
per line in a key file); the last is the signing key, the earlier ones are
retired keys kept so that records and entries they signed still verify.
Each key is at least 32 bytes. A key's id is a short, one-way fingerprint:
records and entries carry the id, never the key.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stratloop.audit._canonical import canonical_json
from stratloop.errors import AuditKeyError

__all__ = [
    "MIN_KEY_BYTES",
    "Key",
    "Keyring",
    "entry_problem",
    "keyring_from",
    "load_keyring",
    "sign_entry",
]

MIN_KEY_BYTES = 32
"""The shortest key accepted (256 bits of text; e.g. ``openssl rand -hex 32`` gives 64)."""

_ID_DOMAIN = b"stratloop-audit-key-id\x00"


@dataclass(frozen=True, slots=True)
class Key:
    """One HMAC-SHA256 key and its public id."""

    id: str
    secret: bytes

    def __repr__(self) -> str:
        return f"Key(id={self.id!r})"

    def hasher(self) -> Any:
        """A fresh HMAC-SHA256 under this key, to be fed the record's canonical bytes."""
        return hmac.new(self.secret, digestmod=hashlib.sha256)

    def sign(self, payload: Mapping[str, Any]) -> str:
        """The hex HMAC of the canonical JSON of ``payload``."""
        mac = self.hasher()
        mac.update(canonical_json(payload).encode())
        return str(mac.hexdigest())

    def signed(self, payload: Mapping[str, Any], signature: object) -> bool:
        """Whether ``signature`` is this key's HMAC of ``payload`` (constant-time compare)."""
        return isinstance(signature, str) and hmac.compare_digest(self.sign(payload), signature)


def _key(secret: bytes) -> Key:
    return Key(hashlib.sha256(_ID_DOMAIN + secret).hexdigest()[:16], secret)


@dataclass(frozen=True, slots=True)
class Keyring:
    """The keys a trail is signed and verified with; the last one signs."""

    keys: tuple[Key, ...]
    source: str

    @property
    def signing(self) -> Key:
        """The key new records are signed with."""
        return self.keys[-1]

    def get(self, key_id: object) -> Key | None:
        """The key with id ``key_id``, or None when the ring does not hold it."""
        return next((key for key in self.keys if key.id == key_id), None)

    @property
    def ids(self) -> tuple[str, ...]:
        """Every key's id, oldest first."""
        return tuple(key.id for key in self.keys)


def keyring_from(text: str, source: str) -> Keyring:
    """The keys in ``text`` (whitespace-separated, signing key last).

    Raises:
        AuditKeyError: no key, or a key shorter than :data:`MIN_KEY_BYTES`.
    """
    secrets = [token.encode() for token in text.split()]
    if not secrets:
        raise AuditKeyError(
            f"{source} holds no audit key; put a key of at least {MIN_KEY_BYTES} bytes there "
            "(e.g. the output of `openssl rand -hex 32`)"
        )
    for number, secret in enumerate(secrets, start=1):
        if len(secret) < MIN_KEY_BYTES:
            raise AuditKeyError(
                f"audit key {number} in {source} is {len(secret)} bytes; a key must be at least "
                f"{MIN_KEY_BYTES} bytes (e.g. the output of `openssl rand -hex 32`)"
            )
    return Keyring(tuple(_key(secret) for secret in secrets), source)


def load_keyring(
    key_env: str | None, key_file: str | Path | None, environ: Mapping[str, str]
) -> Keyring | None:
    """The keyring named by ``audit.key_env`` or ``audit.key_file``; None when neither is set.

    Raises:
        AuditKeyError: both are set, the variable is unset or empty, the file cannot be
            read, or a key is too short.
    """
    if key_env is not None and key_file is not None:
        raise AuditKeyError(
            f"audit.key_env ({key_env!r}) and audit.key_file ({str(key_file)!r}) are both set; "
            "set exactly one"
        )
    if key_env is not None:
        text = environ.get(key_env)
        if not text:
            raise AuditKeyError(
                f"audit.key_env names the variable {key_env!r}, which is unset or empty; export "
                "the key there, or remove audit.key_env to write an unkeyed (SHA-256) chain"
            )
        return keyring_from(text, f"environment variable {key_env}")
    if key_file is not None:
        path = Path(key_file)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise AuditKeyError(
                f"audit.key_file {str(path)!r} cannot be read ({exc}); create it (mode 0600) with "
                "one key per line, or remove audit.key_file to write an unkeyed (SHA-256) chain"
            ) from exc
        return keyring_from(text, f"key file {path}")
    return None


_SIGNATURES = ("sig", "sig_from")


def _payload(entry: Mapping[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in entry.items() if name not in _SIGNATURES}


def sign_entry(
    entry: Mapping[str, Any], key: Key | None, *, also: Key | None = None
) -> dict[str, Any]:
    """``entry`` with ``key_id`` and ``sig`` (and ``sig_from`` by ``also``); as is without a key.

    A log entry (checkpoint, key rotation, retention) is signed over its
    canonical JSON without the signatures, so nobody without the key can
    forge or alter one.
    """
    if key is None:
        return dict(entry)
    signed = {**entry, "key_id": key.id}
    payload = _payload(signed)
    signed["sig"] = key.sign(payload)
    if also is not None:
        signed["sig_from"] = also.sign(payload)
    return signed


def entry_problem(entry: Mapping[str, Any], keyring: Keyring) -> str | None:
    """Why ``entry`` is not validly signed by a key of ``keyring``, or None when it is."""
    key_id = entry.get("key_id")
    if key_id is None:
        return "it is not signed (no key_id), so anyone could have written it"
    key = keyring.get(key_id)
    if key is None:
        return f"it is signed by key {key_id!r}, which the keyring ({keyring.source}) does not hold"
    if not key.signed(_payload(entry), entry.get("sig")):
        return f"its signature does not verify with key {key_id!r}: it was forged or altered"
    return None
