"""deploy/grafana/dashboard.json: a well-formed Grafana dashboard on the names /metrics exposes."""

from __future__ import annotations

import json
from itertools import combinations
from typing import Any

from deploy_helpers import DASHBOARD, METRIC_NAME, exposed_metric_names, panel_queries

from stratloop.service import THRESHOLDS

_DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
_PANEL_KEYS = {"id", "type", "title", "gridPos", "datasource", "targets", "fieldConfig", "options"}
_PROGRESS = {
    "stratloop_champion_train_metric",
    "stratloop_iterations_total",
    "stratloop_llm_iterations_total",
    "stratloop_llm_failures_total",
    "stratloop_last_iteration_timestamp_seconds",
}
"""Search progress: best metric per run, iterations/s, LLM share and failures, last commit."""


def _dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def _panels() -> list[dict[str, Any]]:
    return [p for p in _dashboard()["panels"] if p["type"] != "row"]


def test_dashboard_header() -> None:
    """Title, uid and schemaVersion are set; a datasource variable picks the Prometheus."""
    dashboard = _dashboard()
    assert dashboard["title"]
    assert dashboard["uid"]
    assert isinstance(dashboard["schemaVersion"], int)
    assert dashboard["schemaVersion"] >= 36
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert variables["instance"]["datasource"] == _DATASOURCE


def test_panels_are_well_formed() -> None:
    """Unique ids, the panel keys, grid positions inside 24 columns that do not overlap."""
    panels = _dashboard()["panels"]
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids))
    for panel in _panels():
        assert set(panel) >= _PANEL_KEYS, panel["title"]
        assert panel["targets"], panel["title"]
        assert len({t["refId"] for t in panel["targets"]}) == len(panel["targets"])
    boxes = [p["gridPos"] for p in panels]
    for box in boxes:
        assert box["x"] >= 0
        assert box["x"] + box["w"] <= 24
        assert box["h"] > 0
    for a, b in combinations(boxes, 2):
        apart = (
            a["x"] + a["w"] <= b["x"]
            or b["x"] + b["w"] <= a["x"]
            or a["y"] + a["h"] <= b["y"]
            or b["y"] + b["h"] <= a["y"]
        )
        assert apart, (a, b)


def test_datasource_is_the_variable() -> None:
    """Every panel and every query reads the datasource the variable selects."""
    for panel in _panels():
        assert panel["datasource"] == _DATASOURCE, panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == _DATASOURCE, panel["title"]


def test_queries_use_only_exposed_metrics() -> None:
    """Every metric name in a query is one that GET /metrics exposes."""
    used = {name for query in panel_queries() for name in METRIC_NAME.findall(query)}
    assert used - exposed_metric_names() == set()


def test_key_metrics_and_search_progress() -> None:
    """Every monitored metric of the guide's tables has a panel, and so has search progress."""
    used = {name for query in panel_queries() for name in METRIC_NAME.findall(query)}
    assert {f"stratloop_{t.name}" for t in THRESHOLDS} <= used
    assert used >= _PROGRESS
