"""The schema-versioned audit record: one JSON object per iteration.

A record is the audit projection of the loop's typed iteration record
(:func:`audit_record`); the trail's processors then stamp it (``timestamp``), flag violations
(``violation``, ``violation_reason``), redact it and chain it (``seq``,
``prev_hash``, ``hash``). :func:`schema_problem` is the one schema check that
the writer's tests, ``verify`` and the guide's completeness check share.

A second kind of record, ``record_kind: "holdout"`` (:class:`HoldoutAuditRecord`),
says that ``stratloop holdout`` opened a run's sealed holdout: which champion,
the figures it showed, and whether it was a repeated look (``--again``). It is
chained like every record; iteration records carry no ``record_kind``, and
:func:`is_iteration_record` tells them apart for the checks that are about
iterations (decisions, LLM shares, one record per iteration).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

from stratloop.errors import AuditFormatError
from stratloop.iteration import IterationRecord, fields_json

__all__ = [
    "GUIDE_REQUIRED_FIELDS",
    "HOLDOUT_FIELDS",
    "HOLDOUT_KIND",
    "OPTIONAL_FIELDS",
    "RECORD_FIELDS",
    "SCHEMA_VERSION",
    "AuditRecord",
    "HoldoutAuditRecord",
    "OutcomeStatus",
    "audit_record",
    "is_iteration_record",
    "schema_problem",
]

SCHEMA_VERSION = 1
"""Bumped whenever a field changes meaning; readers reject versions they do not know."""

OutcomeStatus: TypeAlias = Literal["success", "failed", "timeout"]

GUIDE_REQUIRED_FIELDS = (
    "iteration_num",
    "timestamp",
    "config_snapshot",
    "decision",
    "strategy_selected",
    "generation_method_used",
    "violation",
)
"""The fields the deployment guide's completeness check names."""

RECORD_FIELDS = (
    "config_hash",
    "config_snapshot",
    "decision",
    "fallback",
    "flags",
    "generation_method_used",
    "hash",
    "implementation",
    "instance_id",
    "iteration_num",
    "llm_usage",
    "outcome",
    "prev_hash",
    "run_id",
    "schema_version",
    "seq",
    "strategy_selected",
    "timestamp",
    "timings",
    "violation",
    "violation_reason",
)
"""Every top-level field of a written record, sorted."""

HOLDOUT_KIND = "holdout"
"""``record_kind`` of the record ``stratloop holdout`` appends."""

HOLDOUT_FIELDS = (
    "config_hash",
    "config_snapshot",
    "hash",
    "instance_id",
    "iteration_num",
    "outcome",
    "prev_hash",
    "record_kind",
    "run_id",
    "schema_version",
    "seq",
    "timestamp",
    "timings",
    "violation",
    "violation_reason",
)
"""Every top-level field of a written holdout record, sorted."""

_HOLDOUT_OUTCOME_KEYS = ("again", "candidate_id", "expression", "look", "metrics", "verdict")

OPTIONAL_FIELDS = ("key_id",)
"""Top-level fields only some records have: ``key_id`` names the HMAC key of a keyed trail."""

_STATUSES = frozenset({"success", "failed", "timeout"})
_METHODS = frozenset({"llm", "factor_graph"})
_IMPLEMENTATIONS = frozenset({"legacy", "procedural", "strategy_pattern"})
_RULES = frozenset({"explicit_factor_graph", "explicit_llm", "innovation_draw", "legacy_draw"})
_DECISION_KEYS = ("draw", "innovation_rate", "method", "reason", "rule", "use_factor_graph")
_FALLBACK_KEYS = ("error_type", "from_method", "kind", "reason", "to_method")
_OUTCOME_KEYS = (
    "candidate_id",
    "champion",
    "error_message",
    "error_type",
    "expression",
    "metrics",
    "status",
)


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """What the loop knows about one iteration, before the trail stamps and chains it.

    Args:
        iteration_num: the loop's iteration number.
        run_id: the run this iteration belongs to.
        instance_id: the process or host that ran it.
        config_snapshot: the redacted configuration in force.
        config_hash: the stable hash of that configuration.
        flags: the effective feature flags.
        implementation: ``legacy``, ``procedural`` or ``strategy_pattern``.
        decision: the decision with its draw and reason.
        strategy_selected: the strategy class or code path that ran.
        generation_method_used: the generator that produced the candidate, or None.
        fallback: the fallback taken, or None.
        outcome: status, error, candidate id and expression, metrics, champion.
        timings: milliseconds per phase.
        llm_usage: token counts when the LLM was asked, else None.
    """

    iteration_num: int
    run_id: str
    instance_id: str
    config_snapshot: Mapping[str, Any]
    config_hash: str
    flags: Mapping[str, Any]
    implementation: str
    decision: Mapping[str, Any]
    strategy_selected: str
    generation_method_used: str | None
    fallback: Mapping[str, Any] | None
    outcome: Mapping[str, Any]
    timings: Mapping[str, float | None]
    llm_usage: Mapping[str, Any] | None

    def body(self) -> dict[str, Any]:
        """A fresh dict of the record's fields, for the processor chain."""
        return {
            "schema_version": SCHEMA_VERSION,
            "iteration_num": self.iteration_num,
            "run_id": self.run_id,
            "instance_id": self.instance_id,
            "config_snapshot": self.config_snapshot,
            "config_hash": self.config_hash,
            "flags": dict(self.flags),
            "implementation": self.implementation,
            "decision": dict(self.decision),
            "strategy_selected": self.strategy_selected,
            "generation_method_used": self.generation_method_used,
            "fallback": None if self.fallback is None else dict(self.fallback),
            "outcome": dict(self.outcome),
            "timings": dict(self.timings),
            "llm_usage": None if self.llm_usage is None else dict(self.llm_usage),
        }


@dataclass(frozen=True, slots=True)
class HoldoutAuditRecord:
    """One opening of a run's sealed holdout, before the trail stamps and chains it.

    Args:
        iteration_num: the champion's iteration.
        run_id: the run whose holdout was opened.
        instance_id: the process or host that opened it.
        config_snapshot: the run's redacted configuration.
        config_hash: its stable hash.
        candidate_id: the champion's id.
        expression: the champion's expression.
        look: 1 for the first opening, 2 for the second, ...
        again: true when ``--again`` allowed a repeated look.
        metrics: what the command showed (holdout, benchmark, excess, deflation, PBO).
        verdict: the verdict in words.
        seconds: how long the evaluation took.
    """

    iteration_num: int
    run_id: str
    instance_id: str
    config_snapshot: Mapping[str, Any]
    config_hash: str
    candidate_id: str
    expression: str
    look: int
    again: bool
    metrics: Mapping[str, Any]
    verdict: str
    seconds: float

    def body(self) -> dict[str, Any]:
        """A fresh dict of the record's fields, for the processor chain."""
        return {
            "schema_version": SCHEMA_VERSION,
            "record_kind": HOLDOUT_KIND,
            "iteration_num": self.iteration_num,
            "run_id": self.run_id,
            "instance_id": self.instance_id,
            "config_snapshot": self.config_snapshot,
            "config_hash": self.config_hash,
            "outcome": {
                "candidate_id": self.candidate_id,
                "expression": self.expression,
                "look": self.look,
                "again": self.again,
                "metrics": _finite(self.metrics, "metrics"),
                "verdict": self.verdict,
            },
            "timings": {"holdout_ms": self.seconds * 1e3},
        }


def is_iteration_record(record: Mapping[str, Any]) -> bool:
    """True for an iteration's record (no ``record_kind``), false for a holdout record."""
    return "record_kind" not in record


_STATUS: Mapping[str, OutcomeStatus] = {"evaluated": "success", "evaluation_timeout": "timeout"}
"""The audit outcome of an iteration status; every other status is ``failed``."""


def audit_record(
    record: IterationRecord,
    *,
    run_id: str,
    instance_id: str,
    config_snapshot: Mapping[str, Any],
    config_hash: str,
) -> AuditRecord:
    """The audit projection of one committed iteration.

    Args:
        record: the iteration, with the champion rule's verdict.
        run_id: the run id.
        instance_id: the instance id.
        config_snapshot: the redacted snapshot in force; never mutate it
            afterwards (the trail caches its serialisation by identity).
        config_hash: the configuration's stable hash.

    Returns:
        The record; JSON has no NaN, so a non-finite number in the metrics,
        timings or usage is written as null ("no value").

    Raises:
        AuditFormatError: a value that cannot be a record field (the message names it).
    """
    outcome = record.outcome
    candidate = outcome.candidate
    usage = record.llm_usage
    timings = record.timings
    metrics = _metrics(record)
    why = _why(record)
    return AuditRecord(
        iteration_num=record.iteration_num,
        run_id=run_id,
        instance_id=instance_id,
        config_snapshot=config_snapshot,
        config_hash=config_hash,
        flags=record.flags,
        implementation=outcome.implementation,
        decision=fields_json(outcome.decision),
        strategy_selected=outcome.strategy_selected,
        generation_method_used=outcome.method_used,
        fallback=None if outcome.fallback is None else fields_json(outcome.fallback),
        outcome={
            "status": _STATUS.get(record.status, "failed"),
            "error_type": why[0],
            "error_message": why[1],
            "candidate_id": None if candidate is None else candidate.candidate_id,
            "expression": None if candidate is None else candidate.strategy.expression,
            "metrics": None if metrics is None else _finite(metrics, "metrics"),
            "champion": record.champion,
        },
        timings=_finite(
            {
                "generate_ms": _ms(timings.generate_s),
                "validate_ms": _ms(timings.validate_s),
                "backtest_ms": None if timings.evaluate_s is None else _ms(timings.evaluate_s),
            },
            "timings",
        ),
        llm_usage=None
        if usage is None
        else {
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "tokens": usage.tokens,
            "cost": usage.cost if math.isfinite(usage.cost) else None,
            "calls": usage.calls,
        },
    )


def _ms(seconds: float) -> float:
    """Milliseconds to the microsecond, as the record's seconds are (no float noise digits)."""
    return round(seconds * 1e3, 3)


def _metrics(record: IterationRecord) -> dict[str, Any] | None:
    """The record's metrics: train block, validation aggregate and folds (test for schema 1-2)."""
    if record.train is None:
        return None
    metrics: dict[str, Any] = {"train": record.train}
    if record.validation is not None:
        metrics["validation"] = record.validation
        metrics["folds"] = list(record.folds)
    if record.test is not None:
        metrics["test"] = record.test
    return metrics


def _why(record: IterationRecord) -> tuple[str | None, str | None]:
    """The error type and message of the audit outcome; a redundant candidate says what it repeats.

    A redundant iteration was evaluated but is no new trial, so its outcome is
    ``failed`` with the reason instead of an error.
    """
    redundancy = record.redundancy
    if redundancy is not None:
        return "RedundantCandidate", (
            f"its signal correlates {redundancy.correlation:.4f} with "
            f"{redundancy.describe()}, above {redundancy.setting} "
            f"{redundancy.threshold:g}; not a new trial"
        )
    if record.error is None:
        return record.outcome.error_type, record.outcome.error_message
    return record.error.type, record.error.message


def _finite(mapping: Mapping[str, Any], path: str) -> dict[str, Any]:
    """Copy a JSON-shaped mapping, non-finite floats as None; reject what JSON cannot hold."""
    out: dict[str, Any] = {}
    for key, value in mapping.items():
        if not isinstance(key, str):
            raise AuditFormatError(f"audit field {path} has a non-string key {key!r}")
        kind = type(value)
        if kind in _PLAIN:
            out[key] = value
        elif kind is float:
            out[key] = value if math.isfinite(value) else None
        else:
            out[key] = _finite_value(value, f"{path}.{key}")
    return out


_PLAIN = frozenset({str, int, bool, type(None)})
"""Exact types copied as they are (the fast path; subclasses take the general one)."""


def _finite_value(value: Any, path: str) -> Any:
    kind = type(value)
    if kind is dict:
        return _finite(value, path)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if kind in _PLAIN or isinstance(value, (str, int)):
        return value
    if isinstance(value, Mapping):
        return _finite(value, path)
    if isinstance(value, (list, tuple)):
        return [_finite_value(item, f"{path}[{i}]") for i, item in enumerate(value)]
    if hasattr(value, "item") and callable(value.item):
        return _finite_value(value.item(), path)
    raise AuditFormatError(
        f"audit field {path} must be JSON data (number, string, bool, null, list, mapping) "
        f"but got {type(value).__name__}"
    )


def schema_problem(obj: Any) -> str | None:  # noqa: C901, PLR0911, PLR0912
    """Describe the first way ``obj`` is not a schema-v1 record, or None when it is one."""
    if not isinstance(obj, dict):
        return f"a record must be a JSON object, got {type(obj).__name__}"
    if not is_iteration_record(obj):
        return _holdout_problem(obj)
    envelope = _envelope_problem(obj, RECORD_FIELDS)
    if envelope is not None:
        return envelope
    for name in ("run_id", "instance_id", "config_hash", "strategy_selected", "timestamp"):
        if not isinstance(obj[name], str) or not obj[name]:
            return f"{name} must be a non-empty string, got {obj[name]!r}"
    if not obj["timestamp"].endswith("Z"):
        return f"timestamp must be UTC ISO 8601 ending in Z, got {obj['timestamp']!r}"
    if "key_id" in obj and not (isinstance(obj["key_id"], str) and obj["key_id"]):
        return f"key_id must be a non-empty string when present, got {obj['key_id']!r}"
    for name in ("config_snapshot", "flags", "decision", "outcome", "timings"):
        if not isinstance(obj[name], dict):
            return f"{name} must be an object, got {obj[name]!r}"
    if obj["implementation"] not in _IMPLEMENTATIONS:
        return f"implementation {obj['implementation']!r} is not one of {sorted(_IMPLEMENTATIONS)}"
    if obj["generation_method_used"] not in (*_METHODS, None):
        return f"generation_method_used {obj['generation_method_used']!r} is not llm/factor_graph"
    if not isinstance(obj["violation"], bool):
        return f"violation must be true or false, got {obj['violation']!r}"
    if obj["violation"] != isinstance(obj["violation_reason"], str):
        return "violation_reason must be a string exactly when violation is true"
    return (
        _decision_problem(obj["decision"])
        or _fallback_problem(obj["fallback"])
        or _outcome_problem(obj["outcome"])
        or (
            None
            if obj["llm_usage"] is None or isinstance(obj["llm_usage"], dict)
            else "llm_usage must be an object or null"
        )
    )


def _holdout_problem(obj: dict[str, Any]) -> str | None:
    if obj["record_kind"] != HOLDOUT_KIND:
        return f"record_kind {obj['record_kind']!r} is not {HOLDOUT_KIND!r}"
    envelope = _envelope_problem(obj, HOLDOUT_FIELDS)
    if envelope is not None:
        return envelope
    outcome = obj["outcome"]
    if not isinstance(outcome, dict) or any(k not in outcome for k in _HOLDOUT_OUTCOME_KEYS):
        return f"outcome must be an object with {', '.join(_HOLDOUT_OUTCOME_KEYS)}"
    if obj["violation"] is not False:
        return "a holdout record is never a violation"
    return None


def _envelope_problem(obj: dict[str, Any], required: tuple[str, ...]) -> str | None:
    """What every record kind shares: its fields, schema version, sequence and hash chain."""
    missing = [name for name in required if name not in obj]
    if missing:
        return f"missing field(s) {', '.join(missing)}"
    extra = sorted(set(obj) - set(required) - set(OPTIONAL_FIELDS))
    if extra:
        return f"unknown field(s) {', '.join(extra)}"
    if obj["schema_version"] != SCHEMA_VERSION:
        return f"schema_version {obj['schema_version']!r} is not {SCHEMA_VERSION}"
    for name in ("iteration_num", "seq"):
        if not _is_int(obj[name]) or obj[name] < 0:
            return f"{name} must be an int >= 0, got {obj[name]!r}"
    for name in ("prev_hash", "hash"):
        if not _is_hex64(obj[name]):
            return f"{name} must be 64 hex digits, got {obj[name]!r}"
    return None


def _decision_problem(decision: dict[str, Any]) -> str | None:  # noqa: PLR0911
    missing = [key for key in _DECISION_KEYS if key not in decision]
    if missing:
        return f"decision is missing {', '.join(missing)}"
    if decision["method"] not in _METHODS:
        return f"decision.method {decision['method']!r} is not llm/factor_graph"
    if decision["rule"] not in _RULES:
        return f"decision.rule {decision['rule']!r} is not one of {sorted(_RULES)}"
    if decision["use_factor_graph"] not in (True, False, None):
        return f"decision.use_factor_graph {decision['use_factor_graph']!r} is not true/false/null"
    draw = decision["draw"]
    if not _is_number(draw) or not 0.0 <= draw < 1.0:
        return f"decision.draw must be a number in [0, 1), got {draw!r}"
    if not _is_number(decision["innovation_rate"]):
        return f"decision.innovation_rate must be a number, got {decision['innovation_rate']!r}"
    return None


def _fallback_problem(fallback: Any) -> str | None:
    if fallback is None:
        return None
    if not isinstance(fallback, dict) or any(key not in fallback for key in _FALLBACK_KEYS):
        return f"fallback must be null or an object with {', '.join(_FALLBACK_KEYS)}"
    if fallback["kind"] not in ("explicit", "silent"):
        return f"fallback.kind {fallback['kind']!r} is not explicit/silent"
    return None


def _outcome_problem(outcome: dict[str, Any]) -> str | None:
    missing = [key for key in _OUTCOME_KEYS if key not in outcome]
    if missing:
        return f"outcome is missing {', '.join(missing)}"
    if outcome["status"] not in _STATUSES:
        return f"outcome.status {outcome['status']!r} is not one of {sorted(_STATUSES)}"
    if not isinstance(outcome["champion"], bool):
        return f"outcome.champion must be true or false, got {outcome['champion']!r}"
    return None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_hex64(value: Any) -> bool:
    if not isinstance(value, str) or len(value) != 64:
        return False
    try:
        int(value, 16)
    except ValueError:
        return False
    return True
