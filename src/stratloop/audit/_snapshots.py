"""Compact configuration snapshots: written in full once per file, referenced after that.

Every record carries its configuration snapshot, but not always inline: the
writer puts the full snapshot in the first record of each file and in every
record whose ``config_hash`` differs from the previous one in that file;
the other records hold ``{"$ref": config_hash}``. A reference always points
back into the same file, so any file (an archive that outlived retention, a
live file read alone) resolves on its own. Readers (verify, follow, the
reports, ``iter_records``) hand out records with the full snapshot resolved.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["REF_KEY", "SnapshotRefs", "reference", "referenced_hash"]

REF_KEY = "$ref"
"""The only key of a snapshot reference (never a configuration section name)."""


def referenced_hash(snapshot: Any) -> str | None:
    """The config hash a stored snapshot refers to, or None when it is a full snapshot."""
    if isinstance(snapshot, Mapping) and len(snapshot) == 1:
        ref = snapshot.get(REF_KEY)
        if isinstance(ref, str):
            return ref
    return None


_REFS: dict[str, dict[str, str]] = {}


def reference(config_hash: str) -> dict[str, str]:
    """The reference to ``config_hash``, one object per hash (the writer caches by identity)."""
    ref = _REFS.get(config_hash)
    if ref is None:
        if len(_REFS) > 256:
            _REFS.clear()
        ref = _REFS[config_hash] = {REF_KEY: config_hash}
    return ref


class SnapshotRefs:
    """The full snapshots seen so far in one file, by config hash, to resolve references."""

    def __init__(self) -> None:
        self._full: dict[str, Mapping[str, Any]] = {}

    def add(self, config_hash: str, snapshot: Mapping[str, Any]) -> None:
        """Remember a full snapshot written under ``config_hash``."""
        self._full[config_hash] = snapshot

    def resolve(self, record: Mapping[str, Any]) -> Mapping[str, Any] | None:
        """``record`` with its snapshot in full; None when it refers to one this file lacks.

        A full snapshot is remembered under the record's ``config_hash``
        (``verify`` checks that it is the snapshot's hash).
        """
        snapshot = record["config_snapshot"]
        ref = referenced_hash(snapshot)
        if ref is None:
            self.add(record["config_hash"], snapshot)
            return record
        full = self._full.get(ref)
        if full is None:
            return None
        return {**record, "config_snapshot": full}
