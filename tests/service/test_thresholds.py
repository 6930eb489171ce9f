"""The thresholds table against the deployment guide's monitoring tables."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stratloop.service import THRESHOLDS, phase_thresholds
from stratloop.service.thresholds import threshold

GUIDE_METRICS = {
    # Phase 2, 3 and 4 "Metrics to Monitor" tables, as the guide names them.
    "Validation Error Rate": ("<0.1%", ">0.1%"),
    "False Positive Rate": ("0%", ">0%"),
    "Validation Overhead": ("<1ms", ">2ms"),
    "Configuration Migration Success": ("100%", "<100%"),
    "Backward Compatibility": ("100%", "<100%"),
    "Behavioral Equivalence": (">95%", "<95%"),
    "Strategy Selection Accuracy": ("100%", "<100%"),
    "Strategy Pattern Overhead": ("<0.5ms", ">1ms"),
    "Memory Usage": ("Stable", ">20%"),
    "Error Rate": ("<=Phase 1-2", ">1.1x baseline"),
    "Audit Log Completeness": ("100%", "<100%"),
    "Audit Logging Overhead": ("<5ms", ">10ms"),
    "Violation Count": ("0", ">0"),
    "Disk Space Usage": ("<1GB/day", ">5GB/day"),
    "HTML Report Generation Success": ("100%", "<100%"),
    # The "Key Metrics Dashboard" Phase 1 metrics.
    "Configuration priority adherence rate": ("100%", "<100%"),
    "Silent fallback count": ("0", ">0"),
    "Configuration conflict detection rate": ("100%", "<100%"),
}


class TestThresholds:
    def test_every_guide_metric_has_its_threshold(self) -> None:
        """Each metric in the guide's tables is in the table with the guide's target and alert."""
        by_title = {t.title: t for t in THRESHOLDS}
        for title, (target, alert) in GUIDE_METRICS.items():
            assert title in by_title, title
            assert by_title[title].target == target, title
            assert by_title[title].alert_text == alert, title

    def test_critical_alerts_are_the_guides(self) -> None:
        """The guide's critical alerts: silent fallbacks, equivalence, violations, priority."""
        critical = {t.name for t in THRESHOLDS if t.severity == "critical"}
        assert {
            "silent_fallback_count",
            "behavioral_equivalence",
            "violation_count",
            "config_priority_adherence",
        } <= critical

    def test_phase_selection_includes_phase1(self) -> None:
        """A phase's check evaluates Phase 1's metrics and that phase's table only."""
        assert {t.phase for t in phase_thresholds(3)} == {1, 3}

    def test_unknown_metric_names_the_known_ones(self) -> None:
        """Asking for an unknown metric lists the known ones."""
        with pytest.raises(KeyError, match="violation_count"):
            threshold("violations")

    @given(st.floats(allow_nan=True, allow_infinity=True) | st.none())
    def test_verdict_matches_comparison(self, value: float | None) -> None:
        """The verdict is no_data for None/NaN, else alert exactly when the value crosses."""
        t = threshold("behavioral_equivalence")
        verdict = t.verdict(value)
        if value is None or math.isnan(value):
            assert verdict == "no_data"
        else:
            assert verdict == ("alert" if value < 0.95 else "ok")


class TestDocs:
    def test_every_metric_is_documented(self) -> None:
        """docs/operations.md names every metric, its Prometheus name and its alert threshold."""
        docs = (Path(__file__).resolve().parents[2] / "docs" / "operations.md").read_text()
        for t in THRESHOLDS:
            assert f"`stratloop_{t.name}`" in docs, t.name
            assert t.title in docs, t.title
            assert t.alert_text in docs, t.alert_text
