"""The service side: the loop as a service, /health, /metrics and the dashboard.

See ``docs/operations.md`` for the endpoints, the status rules and the
thresholds table.
"""

from stratloop.service.app import DEFAULT_HOST, create_app
from stratloop.service.dashboard import format_value, render_dashboard
from stratloop.service.health import (
    PHASE_KEYS,
    Check,
    HealthSnapshot,
    MetricFigure,
    Monitor,
    ProbeProvider,
    Status,
    evaluate,
    health_payload,
    overall_status,
    p99,
)
from stratloop.service.measure import (
    Measurement,
    measure_audit,
    measure_counts,
    measure_history,
    share,
)
from stratloop.service.metrics import CONTENT_TYPE, PREFIX, render_metrics
from stratloop.service.runtime import (
    LoopService,
    PartsFactory,
    ServiceState,
    TimedAuditSink,
    resident_bytes,
)
from stratloop.service.tally import EXPECTED_STRATEGY, HistoryCounts, HistoryTally
from stratloop.service.thresholds import (
    THRESHOLDS,
    Comparison,
    Severity,
    Threshold,
    Verdict,
    phase_thresholds,
    threshold,
)

__all__ = [
    "CONTENT_TYPE",
    "DEFAULT_HOST",
    "EXPECTED_STRATEGY",
    "PHASE_KEYS",
    "PREFIX",
    "THRESHOLDS",
    "Check",
    "Comparison",
    "HealthSnapshot",
    "HistoryCounts",
    "HistoryTally",
    "LoopService",
    "Measurement",
    "MetricFigure",
    "Monitor",
    "PartsFactory",
    "ProbeProvider",
    "ServiceState",
    "Severity",
    "Status",
    "Threshold",
    "TimedAuditSink",
    "Verdict",
    "create_app",
    "evaluate",
    "format_value",
    "health_payload",
    "measure_audit",
    "measure_counts",
    "measure_history",
    "overall_status",
    "p99",
    "phase_thresholds",
    "render_dashboard",
    "render_metrics",
    "resident_bytes",
    "share",
    "threshold",
]
