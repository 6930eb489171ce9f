"""The FastAPI application: ``/health``, ``/metrics`` and the dashboard at ``/``, and its server.

``create_app`` takes a :class:`~stratloop.service.health.Monitor` over a
:class:`~stratloop.service.runtime.LoopService`. The service's loop starts
when the application starts (after the configuration probes) and is asked to
stop, after its current batch, when the application shuts down. The
endpoints answer from the latest snapshot the
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
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import h11
import uvicorn
from fastapi import FastAPI
from fastapi.responses import Response
from uvicorn.protocols.http.h11_impl import H11Protocol

from stratloop.service.health import Monitor
from stratloop.service.metrics import CONTENT_TYPE
from stratloop.service.snapshot import SnapshotPublisher

__all__ = ["DEFAULT_HOST", "HEADER_TIMEOUT_S", "KEEP_ALIVE_S", "create_app", "server"]

DEFAULT_HOST = "127.0.0.1"
"""The service binds loopback unless told otherwise."""
KEEP_ALIVE_S = 5
"""An idle keep-alive connection is closed after this many seconds."""
HEADER_TIMEOUT_S = 5.0
"""A request head must be complete within this many seconds of connecting or of the last answer."""

_STOP_TIMEOUT_S = 60.0
_JSON = "application/json"
_HTML = "text/html; charset=utf-8"


def create_app(monitor: Monitor, *, start_loop: bool = True) -> FastAPI:
    """The service's web application.

    Args:
        monitor: measures the service's run.
        start_loop: start the loop when the application starts (it may
            already have been started by the caller).
    """
    publisher = SnapshotPublisher(monitor)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if start_loop:
            await asyncio.to_thread(monitor.probe)
            monitor.service.start()
        await asyncio.to_thread(publisher.start)
        try:
            yield
        finally:
            await asyncio.to_thread(monitor.service.stop, _STOP_TIMEOUT_S)
            await asyncio.to_thread(publisher.stop, _STOP_TIMEOUT_S)

    app = FastAPI(title="stratloop", docs_url=None, redoc_url=None, lifespan=lifespan)
    app.state.publisher = publisher

    @app.get("/health")
    async def health() -> Response:
        published = publisher.latest()
        return Response(published.health, status_code=published.status_code, media_type=_JSON)

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(publisher.latest().metrics, media_type=CONTENT_TYPE)

    @app.get("/")
    async def dashboard() -> Response:
        return Response(publisher.latest().dashboard, media_type=_HTML)

    return app


class _HeaderDeadline(H11Protocol):
    """uvicorn's h11 protocol with a deadline for each request head.

    uvicorn closes idle keep-alive connections but has no timeout for a
    request head that trickles in byte by byte. Here a timer armed when the
    connection opens and after every answer closes the connection if, when it
    fires, no complete request head has arrived since (h11 is still waiting
    for one).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_deadline()

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
        self._head_timer = self.loop.call_later(HEADER_TIMEOUT_S, self._head_deadline)

    def _head_deadline(self) -> None:
        self._head_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()


def server(app: FastAPI, host: str, port: int) -> uvicorn.Server:
    """The uvicorn server for ``app`` with the service's connection limits."""
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        http=_HeaderDeadline,
        timeout_keep_alive=KEEP_ALIVE_S,
    )
    return uvicorn.Server(config)
