"""What the deploy tests share: the files under deploy/, and the metric names /metrics exposes."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from stratloop.config.models import StratloopConfig
from stratloop.flags import EnvFlagSource
from stratloop.service import LoopService
from stratloop.service.health import HealthSnapshot, judge_metrics
from stratloop.service.metrics import render_metrics

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "alerts.yml"
RULES_TEST = ROOT / "deploy" / "prometheus" / "alerts_test.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboard.json"
WORKFLOW = ROOT / ".github" / "workflows" / "architecture-refactoring.yml"
METRIC_NAME = re.compile(r"\bstratloop_[a-zA-Z0-9_]+")
"""A stratloop metric name inside a PromQL expression (every family has the prefix)."""


def exposed_metric_names() -> frozenset[str]:
    """Every sample name ``GET /metrics`` can expose, from the service's own rendering.

    Families without data still have HELP and TYPE lines, so a fresh
    service's rendering declares them all (a counter's TYPE line names its
    ``_total`` sample).
    """
    config = StratloopConfig.model_validate(
        {"version": 1, "generation": {"use_factor_graph": True, "innovation_rate": 0}}
    )
    state = LoopService(config, EnvFlagSource({})).state()
    snapshot = HealthSnapshot("healthy", None, None, state, (), judge_metrics({}))
    text = render_metrics(snapshot).decode()
    return names_in_exposition(text)


def names_in_exposition(text: str) -> frozenset[str]:
    """The sample names a Prometheus text exposition declares (its ``# TYPE`` lines)."""
    return frozenset(line.split()[2] for line in text.splitlines() if line.startswith("# TYPE "))


def tool(name: str) -> str:
    """The path of a Debian prometheus tool; ``make test`` installs it when missing."""
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} not found: `make test` installs it (apt-get install prometheus)")
    return found


def panel_queries(instance: str = ".*", metric: str = "sharpe") -> list[str]:
    """Every query of the dashboard, with its variables ``$instance`` and ``$metric`` filled in."""
    dashboard = json.loads(DASHBOARD.read_text())
    return [
        target["expr"].replace("$instance", instance).replace("$metric", metric)
        for panel in dashboard["panels"]
        for target in panel.get("targets", ())
    ]
