"""The snapshot the service publishes: what ``/health``, ``/metrics`` and the dashboard serve.

Measuring the run (reading the flags, folding counts, judging every metric,
refreshing the audit-trail figures) and rendering the answers (JSON, the
Prometheus text) happen in one publisher thread, when the loop reports a
change (a commit, a pause, the end of the run) and at least every
``idle_s`` otherwise, never more often than every ``min_interval_s``. A
request only picks up the latest :class:`Published` and writes its bytes, so
two hundred clients polling ``/health`` cost the loop almost nothing and a
slow measurement never delays an answer. The price is staleness: an answer
is at most ``min_interval_s`` behind a change the loop reported, and at most
``idle_s`` behind a flags-file edit while the loop is paused or finished;
``snapshot_at`` in the payload says when it was taken.

A publication that fails is not hidden: the next answer is ``unhealthy``
(503) with the error, until a publication succeeds.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from http import HTTPStatus
from typing import Any

from stratloop.service.health import HealthSnapshot, Monitor, health_payload
from stratloop.service.metrics import CONTENT_TYPE, render_metrics

__all__ = ["JSON_TYPE", "Published", "SnapshotPublisher"]

JSON_TYPE = "application/json"

_MIN_INTERVAL_S = 0.25
_IDLE_S = 1.0


@dataclass(frozen=True)
class Published:
    """One published snapshot with its rendered answers.

    Args:
        payload: the ``/health`` document.
        status_code: 503 when unhealthy, else 200.
        health: ``payload`` as JSON bytes.
        metrics: the Prometheus text (empty when the publication failed).
        snapshot: the snapshot it was rendered from (None when the publication failed).
    """

    payload: dict[str, Any] = field(repr=False)
    status_code: int
    health: bytes = field(repr=False)
    metrics: bytes = field(repr=False)
    snapshot: HealthSnapshot | None = field(repr=False)

    @cached_property
    def health_response(self) -> bytes:
        """The whole HTTP/1.1 response to ``GET /health``: status line, headers and body."""
        return _response(self.status_code, JSON_TYPE, self.health)

    @cached_property
    def metrics_response(self) -> bytes:
        """The whole HTTP/1.1 response to ``GET /metrics``."""
        return _response(200, CONTENT_TYPE, self.metrics)

    @classmethod
    def of(
        cls, snapshot: HealthSnapshot, metrics: Callable[[HealthSnapshot], bytes] = render_metrics
    ) -> Published:
        """Render ``snapshot``'s answers; ``metrics`` renders its Prometheus text."""
        payload = health_payload(snapshot)
        return cls(
            payload=payload,
            status_code=503 if snapshot.status == "unhealthy" else 200,
            health=json.dumps(payload).encode(),
            metrics=metrics(snapshot),
            snapshot=snapshot,
        )

    @classmethod
    def failed(cls, error: BaseException) -> Published:
        """The answer while the service cannot measure itself: unhealthy, saying why."""
        payload: dict[str, Any] = {
            "status": "unhealthy",
            "error": f"the service could not publish its health: {type(error).__name__}: {error}",
            "snapshot_at": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
        }
        return cls(payload, 503, json.dumps(payload).encode(), b"", None)


def _response(status: int, content_type: str, body: bytes) -> bytes:
    reason = HTTPStatus(status).phrase
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: {content_type}\r\n"
        f"content-length: {len(body)}\r\n\r\n"
    )
    return head.encode("ascii") + body


class SnapshotPublisher:
    """Publishes a :class:`Monitor`'s snapshots from a thread of its own.

    Args:
        monitor: measures the service's run.
        metrics: renders a snapshot's ``/metrics`` text (the service adds the
            audit checkpoint and the runs directory's figures to the snapshot's).
        min_interval_s: the shortest time between two publications.
        idle_s: the longest time between two publications.
        on_publish: called with each publication as it becomes the latest
            (``stratloop serve`` hands it to its server process this way).
    """

    def __init__(
        self,
        monitor: Monitor,
        *,
        metrics: Callable[[HealthSnapshot], bytes] = render_metrics,
        min_interval_s: float = _MIN_INTERVAL_S,
        idle_s: float = _IDLE_S,
        on_publish: Callable[[Published], None] | None = None,
    ) -> None:
        self.monitor = monitor
        self._metrics = metrics
        self._on_publish = on_publish
        self._min_interval_s = min_interval_s
        self._idle_s = idle_s
        self._latest: Published | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def latest(self) -> Published:
        """The latest publication (published now if there is none yet)."""
        published = self._latest
        return self.publish() if published is None else published

    def publish(self) -> Published:
        """Measure and render now, and make it the latest publication."""
        with self._lock:
            try:
                published = Published.of(self.monitor.snapshot(), self._metrics)
            except Exception as exc:  # noqa: BLE001 - any failure is reported as unhealthy
                published = Published.failed(exc)
            published.health_response  # noqa: B018 - rendered here, not in a request
            published.metrics_response  # noqa: B018 - rendered here, not in a request
            self._latest = published
            if self._on_publish is not None:
                self._on_publish(published)
            return published

    def start(self) -> None:
        """Publish once now, then keep publishing in a daemon thread."""
        self.publish()
        self._thread = threading.Thread(
            target=self._run, name="stratloop-health-publisher", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Stop the thread after a last publication (the run's final state)."""
        self._stop.set()
        self.monitor.service.changed.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self.publish()

    def _run(self) -> None:
        changed = self.monitor.service.changed
        while not self._stop.is_set():
            changed.wait(self._idle_s)
            changed.clear()
            if self._stop.is_set():
                return
            self.publish()
            self._stop.wait(self._min_interval_s)
