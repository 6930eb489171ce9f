"""The web application (``/health``, ``/metrics``, ``/api``, the dashboard) and its server.

``create_app`` takes a :class:`Backend`: a :class:`LocalBackend` (a
:class:`~stratloop.service.health.Monitor` over a
:class:`~stratloop.service.runtime.LoopService` in this process), or the
:class:`~stratloop.service.process.LoopProcess` that ``stratloop serve`` uses,
which runs the loop in a child process so that the server answers without
waiting for the loop's thread (they share no interpreter lock). The service's
loop starts when the application starts (after the configuration probes) and
is asked to stop, after its current batch, when the application shuts down.
The endpoints answer from the latest snapshot the
:class:`~stratloop.service.snapshot.SnapshotPublisher` published; no request
measures anything.

``server`` builds the uvicorn server with the connection limits a service
left running for days needs: idle keep-alive connections are closed after
``KEEP_ALIVE_S`` and a client that has not sent a complete request head
within ``HEADER_TIMEOUT_S`` of connecting (or of its previous answer) is
disconnected, so slow-header ("slowloris") connections cannot pile up.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Protocol

import uvicorn
from fastapi import FastAPI
from fastapi.responses import HTMLResponse, JSONResponse, Response
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from stratloop.audit import Checkpoint, last_checkpoint
from stratloop.errors import AuditFormatError
from stratloop.service.api import api_router, call_reader, render_run_metrics
from stratloop.service.dashboard import render_dashboard, render_operations, render_search_tab
from stratloop.service.health import HealthSnapshot, Monitor
from stratloop.service.metrics import CONTENT_TYPE, render_metrics
from stratloop.service.runs import RunReader
from stratloop.service.snapshot import JSON_TYPE, Published, SnapshotPublisher

__all__ = [
    "DEFAULT_HOST",
    "HEADER_TIMEOUT_S",
    "KEEP_ALIVE_S",
    "Backend",
    "LocalBackend",
    "create_app",
    "server",
    "service_publisher",
]

DEFAULT_HOST = "127.0.0.1"
"""The service binds loopback unless told otherwise."""
KEEP_ALIVE_S = 5
"""An idle keep-alive connection is closed after this many seconds."""
HEADER_TIMEOUT_S = 5.0
"""A request head must be complete within this many seconds of connecting or of the last answer."""

_STOP_TIMEOUT_S = 60.0
_HTML = "text/html; charset=utf-8"


class Backend(Protocol):
    """What the application serves: a run's latest publication, its files, and its lifetime.

    :class:`LocalBackend` runs the loop and the publisher in this process;
    :class:`~stratloop.service.process.LoopProcess` (what ``stratloop serve``
    uses) runs them in a child process and serves what it publishes.
    """

    @property
    def runs_dir(self) -> Path:
        """The runs directory the ``/api`` endpoints and the dashboard read."""

    @property
    def audit_path(self) -> Path:
        """The run's audit trail (its checkpoint log is served)."""

    @property
    def run_id(self) -> str:
        """The run being served."""

    def latest(self) -> Published:
        """The latest publication: what ``/health`` and ``/metrics`` answer."""

    def start(self) -> None:
        """Start publishing (and the loop, if this backend runs it); raise what prevents it."""

    def stop(self, timeout: float | None) -> None:
        """Stop the loop after its current batch, then the publishing (None: no time limit)."""


def service_publisher(
    monitor: Monitor, on_publish: Callable[[Published], None] | None = None
) -> SnapshotPublisher:
    """The publisher of ``monitor``'s snapshots with the service's ``/metrics`` text.

    The text adds the audit trail's last checkpoint and every run's figures
    (from the runs directory) to the snapshot's own.
    """
    reader = RunReader(monitor.service.runs_dir)

    def metrics_text(snapshot: HealthSnapshot) -> bytes:
        anchor = _checkpoint(monitor.service.audit_path)
        return render_metrics(snapshot, *anchor) + render_run_metrics(reader)

    return SnapshotPublisher(monitor, metrics=metrics_text, on_publish=on_publish)


class LocalBackend:
    """The loop (a :class:`LoopService` thread) and its publisher in this process.

    Args:
        monitor: measures the service's run.
        start_loop: run the probes and start the loop on :meth:`start` (False:
            the caller started it, or feeds the service itself).
        on_publish: handed each publication (see :class:`SnapshotPublisher`).
    """

    def __init__(
        self,
        monitor: Monitor,
        *,
        start_loop: bool = True,
        on_publish: Callable[[Published], None] | None = None,
    ) -> None:
        self.monitor = monitor
        self.publisher = service_publisher(monitor, on_publish)
        self._start_loop = start_loop

    @property
    def runs_dir(self) -> Path:
        """The service's runs directory."""
        return self.monitor.service.runs_dir

    @property
    def audit_path(self) -> Path:
        """The service's audit trail."""
        return self.monitor.service.audit_path

    @property
    def run_id(self) -> str:
        """The service's run."""
        return self.monitor.service.run_id

    def latest(self) -> Published:
        """The publisher's latest publication."""
        return self.publisher.latest()

    def start(self) -> None:
        """Probe and start the loop (when asked to), then publish."""
        if self._start_loop:
            self.monitor.probe()
            self.monitor.service.start()
        self.publisher.start()

    def stop(self, timeout: float | None) -> None:
        """Stop the loop after its batch, then publish its final state and stop publishing."""
        self.monitor.service.stop(timeout)
        self.publisher.stop(timeout)


def create_app(source: Monitor | Backend, *, start_loop: bool = True) -> FastAPI:
    """The service's web application.

    Args:
        source: what to serve: a backend, or a monitor whose loop runs in
            this process (a :class:`LocalBackend`).
        start_loop: with a monitor, start its loop when the application
            starts (it may already have been started by the caller).
    """
    backend = LocalBackend(source, start_loop=start_loop) if isinstance(source, Monitor) else source
    reader = RunReader(backend.runs_dir)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(backend.start)
        try:
            yield
        finally:
            await asyncio.to_thread(backend.stop, _STOP_TIMEOUT_S)

    app = FastAPI(title="stratloop", docs_url=None, redoc_url=None, lifespan=lifespan)
    app.state.publisher = backend
    app.include_router(api_router(reader))

    @app.get("/health")
    async def health() -> Response:
        published = backend.latest()
        return Response(published.health, status_code=published.status_code, media_type=JSON_TYPE)

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(backend.latest().metrics, media_type=CONTENT_TYPE)

    @app.get("/api/audit/checkpoint", summary="The audit trail's last signed checkpoint")
    async def audit_checkpoint() -> JSONResponse:
        return await asyncio.to_thread(_checkpoint_response, backend.audit_path)

    @app.get("/", response_class=HTMLResponse)
    async def dashboard() -> HTMLResponse:
        payload = backend.latest().payload
        return HTMLResponse(await asyncio.to_thread(render_dashboard, payload, reader))

    @app.get("/dashboard/search", response_class=HTMLResponse, include_in_schema=False)
    async def dashboard_search() -> Response:
        run_id = backend.run_id
        result = await call_reader(lambda: render_search_tab(reader, run_id))
        return result if isinstance(result, JSONResponse) else HTMLResponse(result)

    @app.get("/dashboard/operations", response_class=HTMLResponse, include_in_schema=False)
    async def dashboard_operations() -> HTMLResponse:
        return HTMLResponse(render_operations(backend.latest().payload))

    return app


class _ServiceProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline for each request head and a fast path.

    Deadline: uvicorn closes idle keep-alive connections but has no timeout
    for a request head that trickles in byte by byte. Here a timer armed when
    the connection opens and after every answer closes the connection if,
    when it fires, no complete request head has arrived since.

    Fast path: ``GET /health`` and ``GET /metrics`` are answered from the
    publisher's pre-rendered response bytes as soon as the request head is
    parsed, without an ASGI task, a scope or the framework's routing (the
    app's own routes answer the same bytes when this server is not used, or
    when a pipelined request is still being answered). The publisher is set
    on the subclass :func:`server` builds.
    """

    publisher: Backend
    header_timeout_s: float = HEADER_TIMEOUT_S

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None
        self._head_seen = False
        self._answered = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_deadline()

    def on_headers_complete(self) -> None:
        self._head_seen = True
        answer = self._published_answer()
        if answer is None:
            super().on_headers_complete()
            return
        self._answered = True
        self.transport.write(answer)
        if self.parser.should_keep_alive():
            self.on_response_complete()
        else:
            self.transport.close()

    def on_body(self, body: bytes) -> None:
        if not self._answered:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if self._answered:
            self._answered = False
            return
        super().on_message_complete()

    def _published_answer(self) -> bytes | None:
        """The full response to a fast-path request, or None to let the app answer."""
        if self.url not in _FAST_PATHS or self.parser.get_method() != b"GET":
            return None
        if self.cycle is not None and not self.cycle.response_complete:
            return None
        published = self.publisher.latest()
        return published.health_response if self.url == b"/health" else published.metrics_response

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm_head_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        super().connection_lost(exc)

    def _arm_head_deadline(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
        self._head_seen = False
        self._head_timer = self.loop.call_later(self.header_timeout_s, self._head_deadline)

    def _head_deadline(self) -> None:
        self._head_timer = None
        if not self._head_seen and not self.transport.is_closing():
            self.transport.close()


_FAST_PATHS = frozenset({b"/health", b"/metrics"})


def server(
    app: FastAPI,
    host: str,
    port: int,
    *,
    header_timeout_s: float = HEADER_TIMEOUT_S,
    keep_alive_s: int = KEEP_ALIVE_S,
) -> uvicorn.Server:
    """The uvicorn server for ``app`` (from :func:`create_app`) with the service's limits.

    Args:
        app: the application; its publisher answers the fast path.
        host: the address to bind.
        port: the port to bind (0: any free one).
        header_timeout_s: the deadline for a request head.
        keep_alive_s: how long an idle keep-alive connection stays open.
    """
    protocol = type(
        "ServiceProtocol",
        (_ServiceProtocol,),
        {"publisher": app.state.publisher, "header_timeout_s": header_timeout_s},
    )
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        http=protocol,
        timeout_keep_alive=keep_alive_s,
    )
    return uvicorn.Server(config)


def _checkpoint(audit_path: Path) -> tuple[Checkpoint | None, str | None]:
    """The trail's last checkpoint (None before the first), or why its log cannot be read."""
    try:
        return last_checkpoint(audit_path), None
    except AuditFormatError as exc:
        return None, str(exc)


def _checkpoint_response(audit_path: Path) -> JSONResponse:
    """``/api/audit/checkpoint``: the checkpoint as JSON; 404 before the first, 500 unreadable."""
    found, error = _checkpoint(audit_path)
    if error is not None:
        return JSONResponse({"error": error}, status_code=500)
    if found is None:
        return JSONResponse({"error": f"no checkpoint for {audit_path} yet"}, status_code=404)
    return JSONResponse(dataclasses.asdict(found))
