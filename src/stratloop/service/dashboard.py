"""The dashboard at ``/``: the search for a person running the loop for days, and operations.

The page has two tabs. *Search*: the live run's progress (iterations, rate,
ETA), the champion card with its cumulative return against equal weight,
the search view (:mod:`stratloop.report.search`), recent decisions and the
runs list linking each run's tear sheet. *Operations*: the deployment
guide's monitored metrics against their alert thresholds and the checks. A
side panel shows the health status and the flags.

The page updates itself without a reload: a small inline script polls
``/api/runs/{id}`` and ``/health`` and, when the run has committed
iterations since, fetches the two tabs again as HTML fragments
(``/dashboard/search`` and ``/dashboard/operations``). Nothing is loaded
from outside the service.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from stratloop.errors import StratloopError
from stratloop.report import Line, chart_css, render_search, sparkline, template
from stratloop.report.analytics import equity_curve
from stratloop.service.health import PHASE_KEYS
from stratloop.service.runs import RunReader

__all__ = [
    "POLL_MS",
    "format_value",
    "render_dashboard",
    "render_operations",
    "render_search_tab",
]

POLL_MS = 2000
"""How often the page asks the service for the run's progress."""

_RUNS_LISTED = 50


def format_value(value: float | None, unit: str) -> str:
    """A metric value for people: ratios as percent, ms, GB/day; "no data" for None."""
    if value is None:
        return "no data"
    if unit == "ratio":
        return f"{value * 100:.2f}%"
    if unit == "ms":
        return f"{value:.3f} ms"
    if unit == "multiple":
        return f"{value:.2f}x"
    if unit == "bytes_per_day":
        return f"{value / 1e9:.4f} GB/day"
    return f"{value:g}"


def render_operations(payload: dict[str, Any]) -> str:
    """The operations tab: checks, flags and the guide's metrics against their thresholds."""
    metrics = [
        {**m, "shown": format_value(m["value"], m["unit"])} for m in payload["metrics"].values()
    ]
    return template("stratloop.service", "operations.html.j2").render(
        payload=payload, metrics=metrics, phase_keys=PHASE_KEYS
    )


def _champion_card(reader: RunReader, run_id: str) -> dict[str, Any] | None:
    """The champion's figures and sparkline; None before there is one."""
    progress = reader.progress(run_id)
    champion = progress.info.champion
    if champion is None:
        return None
    card: dict[str, Any] = {"champion": champion, "metric": progress.info.metric}
    try:
        series = reader.series(run_id)
    except StratloopError as exc:
        card["error"] = str(exc)
        return card
    first = str(series.dates[0].astype("datetime64[D]"))
    last = str(series.dates[-1].astype("datetime64[D]"))
    card["sparkline"] = sparkline(
        "champion-sparkline",
        f"Growth of 1, champion vs equal weight, {first} to {last}",
        [
            Line("champion", "strategy", equity_curve(series.returns)),
            Line("equal weight", "benchmark", equity_curve(series.benchmark)),
        ],
        first,
        last,
    )
    card["total"] = float(equity_curve(series.returns)[-1] - 1.0)
    card["benchmark_total"] = float(equity_curve(series.benchmark)[-1] - 1.0)
    card["judged"] = series.segments[-1]
    card["segments"] = " and ".join(seg.name for seg in series.segments) + " segments"
    return card


def _runs(reader: RunReader) -> list[dict[str, Any]]:
    rows = []
    for run_id in reversed(reader.run_ids()[-_RUNS_LISTED:]):
        try:
            rows.append(reader.progress(run_id).as_dict())
        except StratloopError:
            continue
    return rows


def render_search_tab(reader: RunReader, run_id: str) -> str:
    """The search tab: progress, champion card, search view and the runs list."""
    progress = reader.progress(run_id)
    return template("stratloop.service", "search_tab.html.j2").render(
        run=progress.as_dict(),
        card=_champion_card(reader, run_id),
        search=render_search(reader.search(run_id)),
        runs=_runs(reader),
    )


def render_dashboard(payload: dict[str, Any], reader: RunReader) -> str:
    """The whole page for one ``/health`` payload and the service's runs."""
    run_id = payload["run_id"]
    try:
        search = render_search_tab(reader, run_id)
    except StratloopError as exc:
        search = f'<p class="empty" id="search-pending">The run is starting: {exc}</p>'
    generated = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    return template("stratloop.service", "dashboard.html.j2").render(
        payload=payload,
        phase_keys=PHASE_KEYS,
        operations=render_operations(payload),
        search=search,
        generated=generated,
        poll_ms=POLL_MS,
        chart_css=chart_css(),
    )
