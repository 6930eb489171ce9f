"""``/metrics``: a health snapshot as Prometheus text, from the service's own registry.

Each monitored metric of :mod:`stratloop.service.thresholds` is a gauge
``stratloop_<name>``; a metric with no data yet has its family (HELP and
TYPE) but no sample, so no number is made up. Alongside: the phases,
the health status, the iterations and errors, strategy selections, the
search's progress (last commit time, LLM iterations and failures, the
champion's train metrics), every alert threshold as
``stratloop_alert_threshold{metric=...}``, and the audit trail's last signed
checkpoint (``stratloop_audit_checkpoint_*``), for an external system to
anchor the trail.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from stratloop.audit import Checkpoint
from stratloop.llm.calls import ModelSummary
from stratloop.service.health import PHASE_KEYS, HealthSnapshot

__all__ = ["CONTENT_TYPE", "PREFIX", "render_metrics"]

PREFIX = "stratloop_"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_STATUS = ("healthy", "degraded", "unhealthy")


class _SnapshotCollector(Collector):
    """Yields the metric families of one frozen snapshot."""

    def __init__(
        self, snapshot: HealthSnapshot, checkpoint: Checkpoint | None, checkpoint_error: str | None
    ) -> None:
        self._snapshot = snapshot
        self._checkpoint = checkpoint
        self._checkpoint_error = checkpoint_error

    def collect(self) -> Iterator[Metric]:
        snap = self._snapshot
        for figure in snap.figures:
            t = figure.threshold
            family = GaugeMetricFamily(
                PREFIX + t.name, f"{t.title} (phase {t.phase}, {t.unit}): {t.description}"
            )
            value = figure.measurement.value
            if value is not None and not math.isnan(value):
                family.add_metric([], value)
            yield family
        alerts = GaugeMetricFamily(
            PREFIX + "alert_threshold",
            "The guide's alert threshold of each metric (the alert fires beyond it)",
            labels=["metric", "comparison", "severity"],
        )
        for figure in snap.figures:
            t = figure.threshold
            alerts.add_metric([t.name, t.comparison, t.severity], t.alert)
        yield alerts
        yield from self._phases()
        yield from self._run()
        yield from self._anchor()

    def _anchor(self) -> Iterator[Metric]:
        """The audit trail's last checkpoint: seq, time, and hash with its signature."""
        checkpoint = self._checkpoint
        yield _family(
            GaugeMetricFamily,
            "audit_checkpoint_seq",
            "Seq of the audit trail's last checkpoint (no sample before the first)",
            [] if checkpoint is None else [((), checkpoint.seq)],
        )
        moment = None if checkpoint is None else _unix_time(checkpoint.time.removesuffix("Z"))
        yield _family(
            GaugeMetricFamily,
            "audit_checkpoint_timestamp_seconds",
            "Unix time of the audit trail's last checkpoint",
            [] if moment is None else [((), moment)],
        )
        yield _family(
            GaugeMetricFamily,
            "audit_checkpoint_info",
            "The last checkpoint's record hash, signing key id and HMAC signature (empty when "
            "the trail is unkeyed); store these to anchor the trail",
            []
            if checkpoint is None
            else [
                (
                    (
                        str(checkpoint.seq),
                        checkpoint.hash,
                        checkpoint.key_id or "",
                        checkpoint.sig or "",
                    ),
                    1,
                )
            ],
            ["seq", "hash", "key_id", "sig"],
        )
        yield _family(
            GaugeMetricFamily,
            "audit_checkpoint_unreadable",
            "1 when the audit trail's checkpoint log cannot be read, with the reason",
            [] if self._checkpoint_error is None else [((self._checkpoint_error[:200],), 1)],
            ["reason"],
        )

    def _phases(self) -> Iterator[Metric]:
        snap = self._snapshot
        phases = GaugeMetricFamily(
            PREFIX + "phase_enabled",
            "1 when the phase is effective under the flags read now",
            labels=["phase"],
        )
        effective = GaugeMetricFamily(
            PREFIX + "effective_phase", "Highest phase n with phases 1..n effective (0: legacy)"
        )
        if snap.flags is not None:
            view = snap.flags.as_dict()
            for number, key in enumerate(PHASE_KEYS, start=1):
                phases.add_metric([str(number)], float(view[key]))
            effective.add_metric([], float(snap.flags.effective_phase))
        yield phases
        yield effective
        status = GaugeMetricFamily(
            PREFIX + "health_status", "1 for the current health status", labels=["status"]
        )
        for name in _STATUS:
            status.add_metric([name], float(snap.status == name))
        yield status

    def _run(self) -> Iterator[Metric]:
        state = self._snapshot.state
        history = state.history
        yield _family(
            CounterMetricFamily,
            "iterations",
            "Iterations committed by the run",
            _by_name(history.statuses),
            ["status"],
        )
        yield _family(
            CounterMetricFamily,
            "errors",
            "Iterations that did not produce an evaluation, by stage and error",
            history.errors.items(),
            ["stage", "type"],
        )
        yield _family(
            GaugeMetricFamily,
            "loop_paused",
            "1 while the loop waits at an iteration boundary for the flags to read cleanly",
            [((), float(state.paused is not None))],
        )
        rate = history.recent_failed / history.recent if history.recent else None
        yield _family(
            GaugeMetricFamily,
            "recent_failure_rate",
            "Share of the latest loop.failure_rate_window iterations that produced no evaluation "
            "(no sample before the first)",
            [] if rate is None else [((), rate)],
        )
        yield _family(
            GaugeMetricFamily,
            "max_failure_rate",
            "loop.max_failure_rate: /health is degraded above it",
            [((), self._snapshot.max_failure_rate)],
        )
        yield _family(
            CounterMetricFamily,
            "audit_write_errors",
            "Audit writes that failed",
            [((), len(state.audit_write_errors))],
        )
        yield _family(
            CounterMetricFamily,
            "strategy_selected",
            "Iterations by the strategy selected",
            _by_name(history.strategies),
            ["strategy"],
        )
        yield _family(
            GaugeMetricFamily,
            "iterations_expected",
            "Iterations the run is configured for",
            [((), state.total)],
        )
        yield from self._progress()

    def _progress(self) -> Iterator[Metric]:
        """The search's progress: last commit time, LLM use and failures, the champion."""
        state = self._snapshot.state
        history = state.history
        committed_at = _unix_time(history.last_timestamp)
        yield _family(
            GaugeMetricFamily,
            "last_iteration_timestamp_seconds",
            "Unix time of the last committed iteration (no sample before the first)",
            [] if committed_at is None else [((), committed_at)],
        )
        yield _family(
            CounterMetricFamily,
            "llm_iterations",
            "Iterations that decided on the LLM",
            [((), history.llm_decisions)],
        )
        yield _family(
            CounterMetricFamily,
            "llm_failures",
            "Iterations that decided on the LLM and whose LLM attempt failed "
            "(it fell back to the factor graph, or produced no candidate)",
            [((), history.llm_failures)],
        )
        yield from _llm_models(history.llm_models)
        yield _family(
            GaugeMetricFamily,
            "champion_train_metric",
            "Train-period metrics of the run's current champion (no sample before one)",
            (((state.run_id, name), value) for name, value in history.champion_train.items()),
            ["run_id", "metric"],
        )


def _llm_models(models: Sequence[ModelSummary]) -> Iterator[Metric]:
    """Per LLM model: calls, proposals, tokens, cost, latency, acceptance and improvement."""
    counters = (
        ("calls", "LLM calls per model (probes and repair rounds included)", "calls"),
        ("proposals", "Iterations whose strategy was asked of the model", "proposals"),
        ("tokens", "Tokens the model's calls spent", "tokens"),
        ("latency_seconds", "Seconds the model's calls took, summed", "latency_sum"),
    )
    for name, text, attribute in counters:
        yield _family(
            CounterMetricFamily,
            f"llm_model_{name}",
            text,
            (((m.model,), getattr(m, attribute)) for m in models),
            ["model"],
        )
    yield _family(
        CounterMetricFamily,
        "llm_model_cost",
        "Cost of the model's calls, in cost_per_1k_tokens units (priced models only)",
        (((m.model,), m.cost) for m in models if m.cost is not None),
        ["model"],
    )
    rates = (
        ("acceptance_rate", "Share of the model's proposals that gave a valid spec",
         "acceptance_rate"),
        ("improvement_rate", "Share of the model's evaluated candidates that became champion",
         "improvement_rate"),
    )
    for name, text, attribute in rates:
        yield _family(
            GaugeMetricFamily,
            f"llm_model_{name}",
            text,
            (
                ((m.model,), getattr(m, attribute))
                for m in models
                if getattr(m, attribute) is not None
            ),
            ["model"],
        )


def _by_name(counts: Mapping[str, int]) -> Iterator[tuple[tuple[str], int]]:
    return (((name,), count) for name, count in counts.items())


def _family(
    kind: type[CounterMetricFamily | GaugeMetricFamily],
    name: str,
    documentation: str,
    samples: Iterable[tuple[Sequence[str], float]],
    labels: Sequence[str] = (),
) -> Metric:
    """The family ``stratloop_<name>`` with one sample per label values."""
    family = kind(PREFIX + name, documentation, labels=list(labels))
    for values, value in samples:
        family.add_metric(list(values), float(value))
    return family


def _unix_time(timestamp: str | None) -> float | None:
    """An ISO 8601 timestamp as Unix seconds (naive means UTC); None when absent or not ISO."""
    if timestamp is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(timestamp)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.timestamp()


def render_metrics(
    snapshot: HealthSnapshot,
    checkpoint: Checkpoint | None = None,
    checkpoint_error: str | None = None,
) -> bytes:
    """The snapshot and the audit trail's last checkpoint in the Prometheus text format.

    Args:
        snapshot: the health snapshot.
        checkpoint: the trail's last checkpoint (None before the first).
        checkpoint_error: why the checkpoint log cannot be read, if it cannot.
    """
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_SnapshotCollector(snapshot, checkpoint, checkpoint_error))
    return generate_latest(registry)
