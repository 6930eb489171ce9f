"""deploy/prometheus/alerts.yml: valid for promtool, unit-tested, on the names /metrics exposes."""

from __future__ import annotations

import re
import subprocess
from typing import Any

import yaml
from deploy_helpers import METRIC_NAME, RULES, RULES_TEST, exposed_metric_names, tool

from stratloop.service import THRESHOLDS
from stratloop.service.thresholds import threshold

_SIMPLE = re.compile(r"^stratloop_(\w+) ([<>]) ([0-9.e]+)$")
"""A rule on one monitored metric: ``stratloop_<name> <op> <number>``."""
_GUIDE_CRITICAL = {
    "StratloopSilentFallback": "silent_fallback_count",
    "StratloopBehavioralEquivalenceLow": "behavioral_equivalence",
    "StratloopAuditViolation": "violation_count",
    "StratloopConfigPriorityBelow100": "config_priority_adherence",
}
_GUIDE_WARNING = {
    "StratloopErrorRateIncrease": ("error_rate_vs_baseline", 1.1),
    "StratloopValidationErrorRate": ("validation_error_rate", 0.001),
    "StratloopStrategyOverhead": ("strategy_overhead_ms", 0.5),
    "StratloopAuditOverhead": ("audit_overhead_ms", 5.0),
}
"""The guide's "Alert Thresholds" figures (error rate +10% is 1.1 times the baseline)."""


def _rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, capture_output=True, text=True, check=False, timeout=60, cwd=RULES.parent
    )


def test_promtool_check_rules() -> None:
    """The rule file passes `promtool check rules`."""
    result = _run(tool("promtool"), "check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(_rules())} rules found" in result.stdout


def test_promtool_test_rules() -> None:
    """Every alert fires on the series that should fire it, and not on healthy ones."""
    result = _run(tool("promtool"), "test", "rules", str(RULES_TEST))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_alert_is_unit_tested() -> None:
    """alerts_test.yml expects each alert of alerts.yml to fire once and to stay silent once."""
    tests = yaml.safe_load(RULES_TEST.read_text())["tests"]
    cases = [case for test in tests for case in test["alert_rule_test"]]
    fired = {case["alertname"] for case in cases if case.get("exp_alerts")}
    silent = {case["alertname"] for case in cases if not case.get("exp_alerts")}
    alerts = {rule["alert"] for rule in _rules()}
    assert fired == alerts
    assert silent == alerts


def test_rules_use_only_exposed_metrics() -> None:
    """Every metric name in an expression is one that GET /metrics exposes."""
    exposed = exposed_metric_names()
    used = {name for rule in _rules() for name in METRIC_NAME.findall(rule["expr"])}
    assert used, "the rules name stratloop metrics"
    assert used - exposed == set()


def test_guide_alerts_at_the_guide_figures() -> None:
    """The guide's critical alerts use the threshold table; its warnings the guide's figures."""
    rules = {rule["alert"]: rule for rule in _rules()}
    for alert, name in _GUIDE_CRITICAL.items():
        match = _SIMPLE.match(rules[alert]["expr"])
        assert match is not None, alert
        t = threshold(name)
        assert match.groups() == (name, t.comparison, match.group(3))
        assert float(match.group(3)) == t.alert
        assert rules[alert]["labels"]["severity"] == t.severity == "critical"
        assert "for" not in rules[alert], "critical alerts fire at once"
    for alert, (name, figure) in _GUIDE_WARNING.items():
        match = _SIMPLE.match(rules[alert]["expr"])
        assert match is not None, alert
        assert match.groups()[:2] == (name, ">")
        assert float(match.group(3)) == figure
        assert rules[alert]["labels"]["severity"] == threshold(name).severity == "warning"


def test_alert_labels() -> None:
    """Every alert has a severity, a summary and a description; phases match the table."""
    phases = {t.name: str(t.phase) for t in THRESHOLDS}
    for rule in _rules():
        assert rule["labels"]["severity"] in {"critical", "warning"}, rule["alert"]
        assert {"summary", "description"} <= set(rule["annotations"]), rule["alert"]
        match = _SIMPLE.match(rule["expr"])
        if match is not None and match.group(1) in phases:
            assert rule["labels"]["phase"] == phases[match.group(1)], rule["alert"]
