"""``/api``: the runs under the service's runs directory as JSON (and CSV), read-only.

- ``GET /api/runs``: every run, newest first, with status, progress and best score;
- ``GET /api/runs/{run_id}``: one run's progress (rate, ETA), counters and champion;
- ``GET /api/runs/{run_id}/champion``: its ``champion.json``;
- ``GET /api/runs/{run_id}/history?since=N&limit=M``: committed records from
  iteration ``N``, at most ``M`` (1..1000), with ``next_since`` for the next page;
- ``GET /api/runs/{run_id}/search``: the search view's figures;
- ``GET /api/runs/{run_id}/returns?format=json|csv``: the champion's daily
  returns and the equal-weight benchmark's, with each day's segment;
- ``GET /api/runs/{run_id}/tearsheet``: the champion's tear sheet (HTML).

Run ids are checked by :func:`~stratloop.service.runs.check_run_id` and
against the listed runs before any file is read. Errors are JSON
``{"error": kind, "detail": message}`` with a 4xx status: 400 for a malformed
id, 404 for an unknown run or a run with no champion yet. The schema is at
``/openapi.json``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, JSONResponse, Response
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from pydantic import BaseModel

from stratloop.errors import RunError, RunIdError, RunNotFoundError, StratloopError
from stratloop.report.tearsheet import render_tearsheet
from stratloop.service.runs import MAX_PAGE, RunReader

__all__ = [
    "KEY_METRICS",
    "api_router",
    "call_reader",
    "error_response",
    "render_run_metrics",
]

KEY_METRICS = ("sharpe", "annual_return", "volatility", "max_drawdown", "calmar", "sortino")
"""The champion metrics exposed as Prometheus gauges, per run and segment."""

_GAUGE_RUNS = 20
"""Gauges cover the most recent runs only, to keep the label cardinality bounded."""

_T = TypeVar("_T")


class ErrorBody(BaseModel):
    """A 4xx answer."""

    error: str
    detail: str


class RunSummaryModel(BaseModel):
    """One run in the list."""

    run_id: str
    status: str
    iterations: int
    total: int
    metric: str
    best: float | None
    started: str | None
    finished: str | None


class HistoryPage(BaseModel):
    """One page of committed iteration records (each as its history line)."""

    run_id: str
    since: int
    limit: int
    records: list[dict[str, Any]]
    next_since: int | None


class ReturnsBody(BaseModel):
    """The champion's daily returns beside the benchmark's."""

    run_id: str
    candidate_id: str
    dataset: str
    dates: list[str]
    segment: list[str]
    strategy: list[float]
    benchmark: list[float]
    holdout: Literal["sealed", "opened"]


_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "The run id is malformed."},
    404: {"model": ErrorBody, "description": "No such run (or no champion yet)."},
}


def error_response(exc: StratloopError) -> JSONResponse:
    """The JSON 4xx answer for an error reading a run."""
    status = 400 if isinstance(exc, RunIdError) else 404
    kind = "invalid_run_id" if isinstance(exc, RunIdError) else "not_found"
    if not isinstance(exc, RunIdError | RunNotFoundError):
        kind = "unavailable"
    return JSONResponse({"error": kind, "detail": str(exc)}, status_code=status)


def _runs(reader: RunReader) -> list[dict[str, Any]]:
    out = []
    for run_id in reversed(reader.run_ids()):
        try:
            progress = reader.progress(run_id).as_dict()
        except RunError:
            continue
        out.append({key: progress[key] for key in RunSummaryModel.model_fields})
    return out


def _champion(reader: RunReader, run_id: str) -> dict[str, Any]:
    champion = reader.progress(run_id).info.champion
    if champion is None:
        raise RunNotFoundError(f"run {run_id} has no champion yet")
    return dict(champion)


def _history(reader: RunReader, run_id: str, since: int, limit: int) -> dict[str, Any]:
    page, following = reader.history_page(run_id, since, limit)
    return {
        "run_id": run_id,
        "since": since,
        "limit": limit,
        "records": [record.as_dict() for record in page],
        "next_since": following,
    }


def _returns(reader: RunReader, run_id: str, fmt: str) -> Any:
    sheet = reader.tearsheet(run_id)
    series = sheet.series
    rows = series.daily_rows()
    if fmt == "csv":
        return Response(
            series.csv_text(),
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{run_id}-returns.csv"'},
        )
    return {
        "run_id": run_id,
        "candidate_id": str(sheet.champion["candidate_id"]),
        "dataset": series.dataset,
        "dates": [row[0] for row in rows],
        "segment": [row[1] for row in rows],
        "strategy": [row[2] for row in rows],
        "benchmark": [row[3] for row in rows],
        "holdout": "sealed" if series.holdout is None else "opened",
    }


async def call_reader(func: Callable[[], _T]) -> _T | JSONResponse:
    """Run a blocking read off the event loop; a stratloop error becomes a JSON 4xx."""
    try:
        return await asyncio.to_thread(func)
    except StratloopError as exc:
        return error_response(exc)


def api_router(reader: RunReader) -> APIRouter:
    """The ``/api`` routes over ``reader``'s runs directory."""
    router = APIRouter(prefix="/api", tags=["runs"], responses=_ERRORS)

    @router.get("/runs", response_model=list[RunSummaryModel], summary="List runs, newest first")
    async def runs() -> Any:
        return await call_reader(lambda: _runs(reader))

    @router.get("/runs/{run_id}", summary="One run: progress, rate, ETA, counters, champion")
    async def run(run_id: str) -> Any:
        return await call_reader(lambda: reader.progress(run_id).as_dict())

    @router.get("/runs/{run_id}/champion", summary="The run's champion.json")
    async def champion(run_id: str) -> Any:
        return await call_reader(lambda: _champion(reader, run_id))

    @router.get(
        "/runs/{run_id}/history", response_model=HistoryPage, summary="Committed records, paged"
    )
    async def history(
        run_id: str,
        since: Annotated[int, Query(ge=0, le=10_000_000, description="First iteration")] = 0,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="Most records")] = 100,
    ) -> Any:
        return await call_reader(lambda: _history(reader, run_id, since, limit))

    @router.get("/runs/{run_id}/search", summary="The search view's figures")
    async def search(run_id: str) -> Any:
        return await call_reader(lambda: reader.search(run_id).as_dict())

    @router.get(
        "/runs/{run_id}/returns",
        response_model=ReturnsBody,
        summary="The champion's daily returns and the benchmark's (JSON or CSV)",
        responses={200: {"content": {"text/csv": {}}}},
    )
    async def returns(
        run_id: str,
        fmt: Annotated[
            Literal["json", "csv"], Query(alias="format", description="json or csv")
        ] = "json",
    ) -> Any:
        return await call_reader(lambda: _returns(reader, run_id, fmt))

    @router.get(
        "/runs/{run_id}/tearsheet",
        response_class=HTMLResponse,
        summary="The champion's tear sheet (self-contained HTML)",
    )
    async def tearsheet(run_id: str) -> Any:
        result = await call_reader(lambda: render_tearsheet(reader.tearsheet(run_id)))
        return result if isinstance(result, JSONResponse) else HTMLResponse(result)

    return router


def _run_families(reader: RunReader) -> Iterator[Metric]:
    """Gauges of the recent runs: best score so far, iterations, the champion's key metrics."""
    best = GaugeMetricFamily(
        "stratloop_run_best_score",
        "Best train score so far (the champion's) of each recent run",
        labels=["run_id", "metric"],
    )
    done = GaugeMetricFamily(
        "stratloop_run_iterations_committed",
        "Iterations committed by each recent run",
        labels=["run_id"],
    )
    metrics = GaugeMetricFamily(
        "stratloop_run_champion_metric",
        "Key metrics of each recent run's champion, by segment (train, validation)",
        labels=["run_id", "segment", "metric"],
    )
    for run_id in reader.run_ids()[-_GAUGE_RUNS:]:
        try:
            info = reader.progress(run_id).info
        except RunError:
            continue
        done.add_metric([run_id], float(info.iterations))
        champion = info.champion
        if champion is None or info.best is None:
            continue
        best.add_metric([run_id, info.metric], float(info.best))
        for segment in ("train", "validation"):
            values = champion.get(segment) or {}
            for name in KEY_METRICS:
                value = values.get(name)
                if isinstance(value, int | float) and not isinstance(value, bool):
                    metrics.add_metric([run_id, segment, name], float(value))
    yield from (best, done, metrics)


class _RunsCollector(Collector):
    def __init__(self, reader: RunReader) -> None:
        self._reader = reader

    def collect(self) -> Iterator[Metric]:
        yield from _run_families(self._reader)


def render_run_metrics(reader: RunReader) -> bytes:
    """The runs' gauges in the Prometheus text format (appended to ``/metrics``)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_RunsCollector(reader))
    return generate_latest(registry)
