"""Verify a trail: schema, contiguous seqs, an intact hash chain, no violations.

Every line must parse and match the schema, seqs must be contiguous, the hash
chain must be intact across rotated files, and no record may violate its
configuration.

The first break is reported precisely (file, line, what is wrong); later
problems are listed too. A torn last line (an unterminated tail in the live
file, or one the writer moved aside at start) is reported separately and is
not a break: it is the trace of a crash, not a lost committed record.
Archives deleted by retention are accounted for by the retention log.
With the trail's keys, every record's HMAC, every retention entry, key
rotation and checkpoint signature is checked too, and the last checkpoint
must still be in the trail (see ``docs/audit.md`` for what is detected
with and without a key).

Memory stays bounded however long the trail is: records are checked as they
are read and only counts are kept (unless ``keep_records`` asks for them).
:class:`~stratloop.audit.follow.TrailFollower` reaches the same verdict
reading only what was appended since its last refresh.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stratloop.audit._files import (
    discover_trails,
    iter_lines,
    read_checkpoints,
    read_content,
    read_head,
    read_retention,
)
from stratloop.audit._keys import Keyring
from stratloop.audit._snapshots import SnapshotRefs
from stratloop.audit._walk import Break, FileState, Tally, TrailReport, TrailWalk
from stratloop.audit.violations import DEFAULT_ALPHA, ViolationReport

__all__ = ["Break", "TrailReport", "VerifyReport", "iter_records", "verify_trail"]


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """Every trail's chain check plus the violation check over all their records."""

    trails: tuple[TrailReport, ...]
    violations: ViolationReport
    records: tuple[Mapping[str, Any], ...] = field(default=(), repr=False)

    @property
    def breaks(self) -> tuple[Break, ...]:
        """All breaks of all trails."""
        return tuple(item for trail in self.trails for item in trail.breaks)

    @property
    def ok(self) -> bool:
        """True when no trail is broken and nothing violates its configuration."""
        return not self.breaks and self.violations.count == 0

    @property
    def record_count(self) -> int:
        """Records that parsed and matched the schema."""
        return sum(trail.records for trail in self.trails)


def iter_records(
    path: Path, *, newest_first: bool = False
) -> Iterator[tuple[Path, int, dict[str, Any]]]:
    """Every record that parses, in trail order: ``(file, line number, record)``.

    Unparsable lines are skipped here; :func:`verify_trail` reports them.

    Args:
        path: a live file, an archive, or a directory of trails.
        newest_first: visit each trail's files newest first (lines within a
            file stay in order), so a reader after the tail can stop early
            without decompressing every archive.
    """
    for trail in discover_trails(path):
        for file in reversed(trail.ordered) if newest_first else trail.ordered:
            refs = SnapshotRefs()
            for raw in iter_lines(file):
                if not raw.terminated:
                    continue
                try:
                    obj = json.loads(raw.text)
                except ValueError:
                    continue
                if not isinstance(obj, dict):
                    continue
                if isinstance(obj.get("config_snapshot"), dict) and isinstance(
                    obj.get("config_hash"), str
                ):
                    obj = dict(refs.resolve(obj) or obj)
                yield file, raw.line_no, obj


def verify_trail(
    path: Path,
    *,
    alpha: float = DEFAULT_ALPHA,
    keep_records: bool = False,
    keyring: Keyring | None = None,
) -> VerifyReport:
    """Verify the trail at ``path`` (a live file, an archive, or a directory of trails).

    Args:
        path: the file or directory.
        alpha: significance level of the run-level LLM-share test.
        keep_records: also return every valid record (for reports).
        keyring: the trail's HMAC keys (:func:`load_keyring`); without them
            HMAC-signed records are checked for linkage only, and each trail's
            ``mode`` says so.

    Raises:
        AuditFormatError: the path does not exist or holds no audit files.
    """
    kept: list[Mapping[str, Any]] = []
    tally = Tally(kept.append if keep_records else None)
    reports = []
    for trail in discover_trails(path):
        torn_files = trail.torn_files
        walk = TrailWalk(trail.live, tally, keyring)
        walk.observe(
            read_head(trail.head),
            read_retention(trail.retention_log),
            read_checkpoints(trail.checkpoints),
            trail.checkpoints,
        )
        for file in trail.ordered:
            state = FileState(file)
            walk.files.append(state)
            walk.feed(state, read_content(file), final=file != trail.live)
        reports.append(walk.report(torn_files))
    return VerifyReport(tuple(reports), tally.report(alpha), tuple(kept))
