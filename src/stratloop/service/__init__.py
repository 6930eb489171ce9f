"""The service side: the loop as a service, /health, /metrics and the dashboard.

See ``docs/operations.md`` for the endpoints, the status rules and the
thresholds table.
"""

from stratloop.service.app import Backend, LocalBackend, create_app, server
from stratloop.service.dashboard import format_value
from stratloop.service.health import (
    Check,
    HealthStatus,
    MetricFigure,
    Monitor,
    ProbeProvider,
    judge_metrics,
    overall_status,
)
from stratloop.service.measure import Measurement, measure_audit, measure_counts, share
from stratloop.service.process import LoopProcess
from stratloop.service.runs import RunReader
from stratloop.service.runtime import LoopService, PartsFactory
from stratloop.service.snapshot import Published, SnapshotPublisher
from stratloop.service.tally import HistoryTally
from stratloop.service.thresholds import THRESHOLDS, phase_thresholds

__all__ = [
    "THRESHOLDS",
    "Backend",
    "Check",
    "HealthStatus",
    "HistoryTally",
    "LocalBackend",
    "LoopProcess",
    "LoopService",
    "Measurement",
    "MetricFigure",
    "Monitor",
    "PartsFactory",
    "ProbeProvider",
    "Published",
    "RunReader",
    "SnapshotPublisher",
    "create_app",
    "format_value",
    "judge_metrics",
    "measure_audit",
    "measure_counts",
    "overall_status",
    "phase_thresholds",
    "server",
    "share",
]
