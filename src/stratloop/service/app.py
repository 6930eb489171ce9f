"""The FastAPI application: ``/health``, ``/metrics``, ``/api`` and the dashboard at ``/``.

``create_app`` takes a :class:`~stratloop.service.health.Monitor` over a
:class:`~stratloop.service.runtime.LoopService`. The service's loop starts
when the application starts (after the configuration probes) and is asked to
stop, after its current batch, when the application shuts down.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, JSONResponse, Response

from stratloop.audit import Checkpoint, last_checkpoint
from stratloop.errors import AuditFormatError
from stratloop.service.api import api_router, call_reader, render_run_metrics
from stratloop.service.dashboard import render_dashboard, render_operations, render_search_tab
from stratloop.service.health import Monitor, health_payload
from stratloop.service.metrics import CONTENT_TYPE, render_metrics
from stratloop.service.runs import RunReader

__all__ = ["DEFAULT_HOST", "create_app"]

DEFAULT_HOST = "127.0.0.1"
"""The service binds loopback unless told otherwise."""

_STOP_TIMEOUT_S = 60.0


def create_app(monitor: Monitor, *, start_loop: bool = True) -> FastAPI:
    """The service's web application.

    Args:
        monitor: measures the service's run.
        start_loop: start the loop when the application starts (it may
            already have been started by the caller).
    """

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if start_loop:
            await asyncio.to_thread(monitor.probe)
            monitor.service.start()
        try:
            yield
        finally:
            await asyncio.to_thread(monitor.service.stop, _STOP_TIMEOUT_S)

    app = FastAPI(title="stratloop", docs_url=None, redoc_url=None, lifespan=lifespan)
    reader = RunReader(monitor.service.runs_dir)
    app.include_router(api_router(reader))

    @app.get("/health")
    async def health() -> JSONResponse:
        snapshot = await asyncio.to_thread(monitor.snapshot)
        code = 503 if snapshot.status == "unhealthy" else 200
        return JSONResponse(health_payload(snapshot), status_code=code)

    @app.get("/metrics")
    async def metrics() -> Response:
        snapshot = await asyncio.to_thread(monitor.snapshot)
        anchor = await asyncio.to_thread(_checkpoint, monitor.service.audit_path)
        runs = await asyncio.to_thread(render_run_metrics, reader)
        return Response(render_metrics(snapshot, *anchor) + runs, media_type=CONTENT_TYPE)

    @app.get("/api/audit/checkpoint", summary="The audit trail's last signed checkpoint")
    async def audit_checkpoint() -> JSONResponse:
        return await asyncio.to_thread(_checkpoint_response, monitor.service.audit_path)

    @app.get("/", response_class=HTMLResponse)
    async def dashboard() -> HTMLResponse:
        snapshot = await asyncio.to_thread(monitor.snapshot)
        page = await asyncio.to_thread(render_dashboard, health_payload(snapshot), reader)
        return HTMLResponse(page)

    @app.get("/dashboard/search", response_class=HTMLResponse, include_in_schema=False)
    async def dashboard_search() -> Response:
        run_id = monitor.service.run_id
        result = await call_reader(lambda: render_search_tab(reader, run_id))
        return result if isinstance(result, JSONResponse) else HTMLResponse(result)

    @app.get("/dashboard/operations", response_class=HTMLResponse, include_in_schema=False)
    async def dashboard_operations() -> HTMLResponse:
        snapshot = await asyncio.to_thread(monitor.snapshot)
        return HTMLResponse(render_operations(health_payload(snapshot)))

    return app


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
