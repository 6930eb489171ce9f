"""The Phase 4 audit trail: one tamper-evident, schema-versioned record per iteration.

Project an iteration with :func:`audit_record`, write it with :class:`AuditTrail`,
check a trail with :func:`verify_trail` (or keep checking a growing one with
:class:`TrailFollower`). The HTML report on a trail lives with the other
presentation code, in :mod:`stratloop.report`. ``stratloop audit …``
exposes all of it.
"""

from stratloop.audit._canonical import canonical_json
from stratloop.audit.follow import FollowReport, TrailFollower
from stratloop.audit.processors import (
    REDACTED,
    Chainer,
    ChainHead,
    Clock,
    Processor,
    ProcessorChain,
    RecordDict,
    Redactor,
    Stamper,
    flag_violation,
    render,
    run_chain,
)
from stratloop.audit.record import (
    GUIDE_REQUIRED_FIELDS,
    RECORD_FIELDS,
    SCHEMA_VERSION,
    AuditRecord,
    OutcomeStatus,
    audit_record,
    schema_problem,
)
from stratloop.audit.testing import capture_records
from stratloop.audit.verify import Break, TrailReport, VerifyReport, iter_records, verify_trail
from stratloop.audit.violations import (
    RecordViolation,
    ShareTest,
    ViolationReport,
    detect_violations,
    record_violation,
    share_tests,
)
from stratloop.audit.writer import AuditTrail, RecoveryReport, TornLine

__all__ = [
    "GUIDE_REQUIRED_FIELDS",
    "RECORD_FIELDS",
    "REDACTED",
    "SCHEMA_VERSION",
    "AuditRecord",
    "AuditTrail",
    "Break",
    "ChainHead",
    "Chainer",
    "Clock",
    "FollowReport",
    "OutcomeStatus",
    "Processor",
    "ProcessorChain",
    "RecordDict",
    "RecordViolation",
    "RecoveryReport",
    "Redactor",
    "ShareTest",
    "Stamper",
    "TornLine",
    "TrailFollower",
    "TrailReport",
    "VerifyReport",
    "ViolationReport",
    "audit_record",
    "canonical_json",
    "capture_records",
    "detect_violations",
    "flag_violation",
    "iter_records",
    "record_violation",
    "render",
    "run_chain",
    "schema_problem",
    "share_tests",
    "verify_trail",
]
