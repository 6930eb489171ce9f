"""The loop's side of the Phase 4 audit trail: one audit record per committed iteration.

The trail is opened at the first record, so a run with Phase 4 off never
touches the audit location; turning the flag on mid-run starts writing.

History is committed first, then the audit record. If the process dies between
the two, the resumed run backfills the audit records of committed, audited
iterations the trail does not have yet, so every committed iteration's record
is present exactly once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from stratloop.audit import (
    AuditTrail,
    HoldoutAuditRecord,
    audit_record,
    is_iteration_record,
    iter_records,
)
from stratloop.config import config_hash, snapshot
from stratloop.config.models import StratloopConfig
from stratloop.iteration import IterationRecord

__all__ = ["RunAudit"]


class RunAudit:
    """Writes a run's audit records to an :class:`~stratloop.audit.AuditTrail`.

    Args:
        config: the run's configuration (its ``audit`` section and its snapshot).
        run_id: the run id.
        instance_id: this instance's id.
        path: overrides ``audit.path`` (``--audit-path``, an environment's location).
    """

    def __init__(
        self, config: StratloopConfig, *, run_id: str, instance_id: str, path: Path | None = None
    ) -> None:
        self._config = config.audit
        self._path = Path(config.audit.path) if path is None else path
        self._trail: AuditTrail | None = None
        self._snapshot = snapshot(config)
        self._hash = config_hash(self._snapshot)
        self._fg_snapshot = _factor_graph_only(self._snapshot)
        self._fg_hash = config_hash(self._fg_snapshot)
        self.run_id = run_id
        self.instance_id = instance_id

    @property
    def path(self) -> Path:
        """The live audit file."""
        return self._path

    @property
    def recovery_messages(self) -> tuple[str, ...]:
        """What the trail found and repaired when it opened (a torn line moved aside)."""
        return () if self._trail is None else self._trail.recovery.messages()

    def _open(self) -> AuditTrail:
        if self._trail is None:
            self._trail = AuditTrail(
                self._config, run_id=self.run_id, instance_id=self.instance_id, path=self._path
            )
        return self._trail

    def write(self, record: IterationRecord) -> None:
        """Append the audit record of one committed iteration."""
        envelope = self.envelope(fallback_mode=record.budget_mode is not None)
        self._open().append(audit_record(record, **envelope))

    def envelope(self, *, fallback_mode: bool = False) -> dict[str, Any]:
        """What every record of this run carries: run, instance and configuration with its hash.

        Args:
            fallback_mode: the budget's factor-graph-only mode is in force, so the
                configuration on record is the one without the LLM.
        """
        if fallback_mode:
            config_snapshot, digest = self._fg_snapshot, self._fg_hash
        else:
            config_snapshot, digest = self._snapshot, self._hash
        return {
            "run_id": self.run_id,
            "instance_id": self.instance_id,
            "config_snapshot": config_snapshot,
            "config_hash": digest,
        }

    def append_holdout(self, record: HoldoutAuditRecord) -> None:
        """Append the record of one look at the run's sealed holdout (``stratloop holdout``)."""
        self._open().append(record)

    def backfill(self, records: Sequence[IterationRecord]) -> int:
        """Write the records of audited iterations the trail lacks; returns how many.

        Only the tail can be missing (history is committed before the audit
        record), so this reads the trail newest file first for this run's
        last iteration and stops at the first file that has any of its
        records: a run's records are appended in iteration order. An existing
        trail is opened either way, so its repairs are in
        :attr:`recovery_messages` for the resume to report.
        """
        if self._path.exists():
            self._open()
        if not any(r.audited for r in records):
            return 0
        self._open()
        last = -1
        found_in: Path | None = None
        for file, _line, entry in iter_records(self.path, newest_first=True):
            if found_in is not None and file != found_in:
                break
            if entry.get("run_id") == self.run_id and is_iteration_record(entry):
                last = max(last, int(entry.get("iteration_num", -1)))
                found_in = file
        missing = [r for r in records if r.iteration_num > last and r.audited]
        for record in missing:
            self.write(record)
        return len(missing)

    def close(self) -> None:
        """Make the trail durable and release it."""
        if self._trail is not None:
            self._trail.close()
            self._trail = None


def _factor_graph_only(data: Mapping[str, Any]) -> dict[str, Any]:
    """The snapshot in force once the LLM budget is spent: ``use_factor_graph`` true."""
    generation = {**data["generation"], "use_factor_graph": True}
    return {**data, "generation": generation}
