"""The alert thresholds: the deployment guide's monitoring tables as one table in code.

Every metric the guide's "Metrics to Monitor" tables, its "Key Metrics
Dashboard" and its "Alert Thresholds" section name is one :class:`Threshold`
here. ``/health``, ``/metrics``, the dashboard and the ``stratloop check
phaseN-health`` commands all read this table, so a threshold is changed in one
place. Ratios are stored as fractions (0.95, not 95%); durations in
milliseconds; sizes in bytes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, TypeAlias

__all__ = [
    "THRESHOLDS",
    "Comparison",
    "Severity",
    "Threshold",
    "Verdict",
    "phase_thresholds",
    "threshold",
]

Comparison: TypeAlias = Literal["<", ">"]
"""The alert fires when the value is below (``<``) or above (``>``) ``alert``."""
Severity: TypeAlias = Literal["critical", "warning"]
"""The guide's "Critical Alerts" (immediate action) or "Warning Alerts" (investigate)."""
Verdict: TypeAlias = Literal["ok", "alert", "no_data"]
"""``no_data``: nothing measured yet; never shown as a number."""

_GB = 1_000_000_000


@dataclass(frozen=True, slots=True)
class Threshold:
    """One monitored metric with its target and alert threshold.

    Args:
        name: the metric's key (``/health`` checks, JSON reports; the
            Prometheus name is ``stratloop_<name>``).
        title: the metric's name in the guide's tables.
        phase: the phase whose table names it (1 for the Phase 1 dashboard metrics).
        unit: ``ratio``, ``count``, ``ms``, ``multiple`` (of a baseline) or ``bytes_per_day``.
        target: the guide's target, as the guide writes it.
        comparison: which side of ``alert`` fires the alert.
        alert: the alert threshold in ``unit``.
        severity: critical or warning.
        description: how the value is measured.
    """

    name: str
    title: str
    phase: int
    unit: str
    target: str
    comparison: Comparison
    alert: float
    severity: Severity
    description: str

    @property
    def alert_text(self) -> str:
        """The alert threshold as the guide writes it (``>0.1%``, ``<95%``, ``>2ms``)."""
        if self.unit == "ratio":
            value = f"{self.alert * 100:g}%"
        elif self.unit == "ms":
            value = f"{self.alert:g}ms"
        elif self.unit == "multiple":
            value = f"{self.alert:g}x baseline"
        elif self.unit == "bytes_per_day":
            value = f"{self.alert / _GB:g}GB/day"
        else:
            value = f"{self.alert:g}"
        return f"{self.comparison}{value}"

    def verdict(self, value: float | None) -> Verdict:
        """``alert`` when ``value`` crosses the threshold, ``no_data`` when it is None or NaN."""
        if value is None or math.isnan(value):
            return "no_data"
        fired = value < self.alert if self.comparison == "<" else value > self.alert
        return "alert" if fired else "ok"


THRESHOLDS: tuple[Threshold, ...] = (
    Threshold(
        "config_priority_adherence",
        "Configuration priority adherence rate",
        1,
        "ratio",
        "100%",
        "<",
        1.0,
        "critical",
        "iterations that followed the configured priority / iterations (run history)",
    ),
    Threshold(
        "silent_fallback_count",
        "Silent fallback count",
        1,
        "count",
        "0",
        ">",
        0.0,
        "critical",
        "iterations that fell back to another method without being configured to",
    ),
    Threshold(
        "config_conflict_detection_rate",
        "Configuration conflict detection rate",
        1,
        "ratio",
        "100%",
        "<",
        1.0,
        "critical",
        "the guide's known conflicting configurations that loading rejects / those tried",
    ),
    Threshold(
        "validation_error_rate",
        "Validation Error Rate",
        2,
        "ratio",
        "<0.1%",
        ">",
        0.001,
        "warning",
        "iterations whose candidate failed typed validation / iterations (run history)",
    ),
    Threshold(
        "false_positive_rate",
        "False Positive Rate",
        2,
        "ratio",
        "0%",
        ">",
        0.0,
        "warning",
        "the guide's valid configurations (on the environment's file) wrongly rejected",
    ),
    Threshold(
        "validation_overhead_ms",
        "Validation Overhead",
        2,
        "ms",
        "<1ms",
        ">",
        2.0,
        "warning",
        "p99 of configuration validation on the Pydantic path, environment's file",
    ),
    Threshold(
        "config_migration_success",
        "Configuration Migration Success",
        2,
        "ratio",
        "100%",
        "<",
        1.0,
        "warning",
        "legacy (v0) configuration conversion checks that pass / those run",
    ),
    Threshold(
        "backward_compatibility",
        "Backward Compatibility",
        2,
        "ratio",
        "100%",
        "<",
        1.0,
        "warning",
        "backward-compatibility checks (legacy, mixed and plain-dict use) that pass",
    ),
    Threshold(
        "behavioral_equivalence",
        "Behavioral Equivalence",
        3,
        "ratio",
        ">95%",
        "<",
        0.95,
        "critical",
        "shadow mode: iterations where the strategy pattern matches Phase 1-2 / iterations",
    ),
    Threshold(
        "strategy_selection_accuracy",
        "Strategy Selection Accuracy",
        3,
        "ratio",
        "100%",
        "<",
        1.0,
        "warning",
        "strategy-pattern iterations that selected the strategy use_factor_graph names",
    ),
    Threshold(
        "strategy_overhead_ms",
        "Strategy Pattern Overhead",
        3,
        "ms",
        "<0.5ms",
        ">",
        1.0,
        "warning",
        "p99 of strategy selection plus invocation overhead over a direct call",
    ),
    Threshold(
        "memory_growth",
        "Memory Usage",
        3,
        "ratio",
        "Stable",
        ">",
        0.2,
        "warning",
        "service resident memory growth since the loop started (service only)",
    ),
    Threshold(
        "error_rate_vs_baseline",
        "Error Rate",
        3,
        "multiple",
        "<=Phase 1-2",
        ">",
        1.1,
        "warning",
        "error rate of strategy-pattern iterations / error rate of Phase 1-2 iterations",
    ),
    Threshold(
        "audit_completeness",
        "Audit Log Completeness",
        4,
        "ratio",
        "100%",
        "<",
        1.0,
        "warning",
        "audit records of the run / iterations committed with Phase 4 on",
    ),
    Threshold(
        "audit_overhead_ms",
        "Audit Logging Overhead",
        4,
        "ms",
        "<5ms",
        ">",
        10.0,
        "warning",
        "p99 of writing one audit record (the service times the real writes)",
    ),
    Threshold(
        "violation_count",
        "Violation Count",
        4,
        "count",
        "0",
        ">",
        0.0,
        "critical",
        "records whose decision contradicts their configuration snapshot, plus broken chains",
    ),
    Threshold(
        "disk_usage_bytes_per_day",
        "Disk Space Usage",
        4,
        "bytes_per_day",
        "<1GB/day",
        ">",
        5.0 * _GB,
        "warning",
        "audit trail bytes / days its records span (at least one hour)",
    ),
    Threshold(
        "html_report_success",
        "HTML Report Generation Success",
        4,
        "ratio",
        "100%",
        "<",
        1.0,
        "warning",
        "the audit report renders from the trail (1) or fails (0)",
    ),
)
"""Every monitored metric, in the guide's order (Phase 1 dashboard, then tables 2-4)."""

_BY_NAME: Mapping[str, Threshold] = {t.name: t for t in THRESHOLDS}


def threshold(name: str) -> Threshold:
    """The threshold of metric ``name``.

    Raises:
        KeyError: no such metric; the message lists the known ones.
    """
    try:
        return _BY_NAME[name]
    except KeyError:
        known = ", ".join(_BY_NAME)
        raise KeyError(f"no threshold for metric {name!r}; known metrics: {known}") from None


def phase_thresholds(phase: int) -> tuple[Threshold, ...]:
    """The metrics a phase's health check evaluates: Phase 1's, then that phase's table."""
    return tuple(t for t in THRESHOLDS if t.phase in {1, phase})
