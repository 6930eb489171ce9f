"""The dashboard page: the ``/health`` figures and the guide's alert thresholds as HTML.

Self-contained (inline CSS, no scripts, no external URLs); it reloads itself
with a meta refresh.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from stratloop.report.templating import template
from stratloop.service.health import PHASE_KEYS

__all__ = ["format_value", "render_dashboard"]

_REFRESH_S = 10


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


def render_dashboard(payload: dict[str, Any]) -> str:
    """The dashboard for one ``/health`` payload."""
    metrics = [
        {**m, "shown": format_value(m["value"], m["unit"])} for m in payload["metrics"].values()
    ]
    generated = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    return template("stratloop.service", "dashboard.html.j2").render(
        payload=payload,
        metrics=metrics,
        phase_keys=PHASE_KEYS,
        generated=generated,
        refresh_s=_REFRESH_S,
    )
