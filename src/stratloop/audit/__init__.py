"""The Phase 4 audit trail: one tamper-evident, schema-versioned record per iteration.

Project an iteration with :func:`audit_record`, write it with :class:`AuditTrail`,
check a trail with :func:`verify_trail` (or keep checking a growing one with
:class:`TrailFollower`), with the trail's HMAC keys from :func:`load_keyring`
when it is keyed. :func:`last_checkpoint` is the signed head an external
system copies to anchor the trail. The HTML report on a trail lives with the other
presentation code, in :mod:`stratloop.report`. ``stratloop audit …``
exposes all of it.
"""

from stratloop.audit._canonical import canonical_json
from stratloop.audit._checkpoints import Checkpoint, last_checkpoint
from stratloop.audit._keys import Keyring, load_keyring
from stratloop.audit.follow import FollowReport, TrailFollower
from stratloop.audit.record import (
    GUIDE_REQUIRED_FIELDS,
    RECORD_FIELDS,
    AuditRecord,
    HoldoutAuditRecord,
    audit_record,
    is_iteration_record,
    schema_problem,
)
from stratloop.audit.testing import capture_records
from stratloop.audit.verify import TrailReport, VerifyReport, iter_records, verify_trail
from stratloop.audit.violations import ViolationReport, detect_violations, record_violation
from stratloop.audit.writer import AuditTrail

__all__ = [
    "GUIDE_REQUIRED_FIELDS",
    "RECORD_FIELDS",
    "AuditRecord",
    "AuditTrail",
    "Checkpoint",
    "FollowReport",
    "HoldoutAuditRecord",
    "Keyring",
    "TrailFollower",
    "TrailReport",
    "VerifyReport",
    "ViolationReport",
    "audit_record",
    "canonical_json",
    "capture_records",
    "detect_violations",
    "is_iteration_record",
    "iter_records",
    "last_checkpoint",
    "load_keyring",
    "record_violation",
    "schema_problem",
    "verify_trail",
]
