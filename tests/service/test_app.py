"""The service over a real uvicorn server on 127.0.0.1, driven with httpx."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from service_helpers import make_environment, serving, wait_for, write_flags

from run_helpers import ALL_ON
from stratloop.service import THRESHOLDS


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, Path]]:
    """One long run served for the module: (base URL, flags file, root)."""
    root = make_environment(tmp_path_factory.mktemp("svc"), iterations=2000)
    flags = root / "flags.env"
    write_flags(flags, ALL_ON)
    with serving(root, flags, iterations=2000) as url:
        yield url, flags, root


def _history(root: Path) -> list[dict[str, object]]:
    runs = sorted((root / "runs" / "t").iterdir())
    lines = (runs[-1] / "history.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


PROBED = (
    "config_conflict_detection_rate",
    "false_positive_rate",
    "validation_overhead_ms",
    "config_migration_success",
    "backward_compatibility",
    "behavioral_equivalence",
    "strategy_overhead_ms",
)
"""The metrics the service reports from its injected health probes."""

COMBINATIONS = [
    ({}, (True, True, True, True), 4),
    ({"PHASE4_AUDIT_TRAIL": "false"}, (True, True, True, False), 3),
    (
        {"PHASE3_STRATEGY_PATTERN": "false", "PHASE4_AUDIT_TRAIL": "false"},
        (True, True, False, False),
        2,
    ),
    ({"PHASE2_PYDANTIC_VALIDATION": "false"}, (True, False, True, True), 1),
    ({"ENABLE_GENERATION_REFACTORING": "false"}, (False, False, False, False), 0),
]


class TestHealth:
    def test_healthy_run_has_measured_figures(self, server: tuple[str, Path, Path]) -> None:
        """A clean factor-graph run is healthy with adherence 100% and no silent fallback.

        First in the module: later tests run iterations under other flag
        combinations, which gives the run a Phase 1-2 baseline to compare with.
        """
        url, _flags, _root = server
        wait_for(lambda: httpx.get(url + "/health", timeout=10).json()["iteration"] >= 2)
        body = httpx.get(url + "/health", timeout=10).json()
        alerts = {k: v for k, v in body["metrics"].items() if v["verdict"] == "alert"}
        assert body["status"] == "healthy", alerts
        assert body["metrics"]["config_priority_adherence"]["value"] == 1.0
        assert body["metrics"]["silent_fallback_count"]["value"] == 0.0
        assert body["metrics"]["behavioral_equivalence"]["verdict"] == "ok"
        assert body["last_iteration_at"] is not None
        probed = [name for name in PROBED if body["metrics"][name]["value"] is None]
        assert probed == [], "the health_probes entry point's metrics are measured"

    def test_payload_per_flag_combination(self, server: tuple[str, Path, Path]) -> None:
        """/health reports the effective phases of the flags file as it is now."""
        url, flags, _root = server
        for change, phases, effective in COMBINATIONS:
            write_flags(flags, {**ALL_ON, **change})

            def published(phases: tuple[bool, ...] = phases) -> dict[str, object] | None:
                body: dict[str, object] = httpx.get(url + "/health", timeout=10).json()
                got = tuple(body[f"phase{n}_enabled"] for n in range(1, 5))
                return body if got == phases else None

            body = wait_for(published, timeout=10, what=f"/health to publish {change}")
            assert body["effective_phase"] == effective
            assert body["status"] in {"healthy", "degraded"}
            assert body["checks"]["flags"]["status"] == "pass"
        write_flags(flags, ALL_ON)

    def test_rollback_without_restart(self, server: tuple[str, Path, Path]) -> None:
        """After the flags file turns Phase 4 off, the next iterations run without it."""
        url, flags, root = server
        write_flags(flags, ALL_ON)
        wait_for(
            lambda: (h := _history(root)) and h[-1]["flags"]["effective_phase"] == 4,  # type: ignore[index]
            what="an iteration with every phase on",
        )
        before = len(_history(root))
        write_flags(flags, {**ALL_ON, "PHASE4_AUDIT_TRAIL": "false"})
        record = wait_for(
            lambda: next((r for r in _history(root)[before:] if not r["audited"]), None),
            what="an iteration with Phase 4 off",
        )
        assert record["flags"]["phase4_enabled"] is False  # type: ignore[index]
        assert record["flags"]["effective_phase"] == 3  # type: ignore[index]
        body = wait_for(
            lambda: (b := httpx.get(url + "/health", timeout=10).json())["phase4_enabled"] is False
            and b,
            timeout=10,
        )
        assert body["loop_status"] == "running"
        write_flags(flags, ALL_ON)

    def test_audit_figures_refresh_incrementally(self, server: tuple[str, Path, Path]) -> None:
        """Later /health refreshes verify only new audit records, and every record renders."""
        url, flags, _root = server
        write_flags(flags, ALL_ON)

        def figures() -> dict[str, dict[str, object]]:
            metrics: dict[str, dict[str, object]] = httpx.get(url + "/health", timeout=10).json()[
                "metrics"
            ]
            return metrics

        def records(found: dict[str, dict[str, object]]) -> int:
            match = re.search(r" in (\d+) records", str(found["violation_count"]["detail"]))
            return int(match[1]) if match else -1

        first = wait_for(lambda: records(figures()) + 1, what="a first audit refresh") - 1

        def after_first() -> dict[str, dict[str, object]] | None:
            found = figures()
            return found if records(found) > first else None

        later = wait_for(after_first, timeout=30, what="an audit refresh after the first")
        assert later["violation_count"]["value"] == 0.0
        assert re.fullmatch(
            r"0 violations, 0 chain breaks in \d+ records", str(later["violation_count"]["detail"])
        )
        assert later["audit_completeness"]["value"] == 1.0
        assert later["html_report_success"]["value"] == 1.0


class TestMetrics:
    def test_every_guide_metric_is_exposed(self, server: tuple[str, Path, Path]) -> None:
        """/metrics parses as Prometheus text and has a family for every monitored metric."""
        url, _flags, _root = server
        response = httpx.get(url + "/metrics", timeout=10)
        assert response.headers["content-type"].startswith("text/plain")
        families = {f.name: f for f in text_string_to_metric_families(response.text)}
        for t in THRESHOLDS:
            assert f"stratloop_{t.name}" in families, t.name
        thresholds = {
            s.labels["metric"]: s.value for s in families["stratloop_alert_threshold"].samples
        }
        assert thresholds["behavioral_equivalence"] == 0.95
        assert "stratloop_iterations" in families
        assert "stratloop_errors" in families
        adherence = families["stratloop_config_priority_adherence"].samples
        assert [s.value for s in adherence] == [1.0]
        assert {"stratloop_audit_checkpoint_seq", "stratloop_audit_checkpoint_info"} <= set(
            families
        )
        anchor = httpx.get(url + "/api/audit/checkpoint", timeout=10)
        assert anchor.status_code in (200, 404)  # 404 until the first checkpoint interval
        assert anchor.headers["content-type"].startswith("application/json")


class TestBadFlags:
    def test_bad_flags_file_pauses_the_loop_until_fixed(self, tmp_path: Path) -> None:
        """Issue 13: a typo pauses the loop (degraded, with the reason); fixing it resumes it."""
        root = make_environment(tmp_path, iterations=400)
        flags = root / "flags.env"
        write_flags(flags, ALL_ON)
        with serving(root, flags, iterations=400) as url:
            wait_for(lambda: httpx.get(url + "/health", timeout=10).json()["iteration"] >= 2)
            write_flags(flags, {**ALL_ON, "PHASE2_PYDANTIC_VALIDATION": "maybe"})

            def paused() -> httpx.Response | None:
                response = httpx.get(url + "/health", timeout=10)
                return response if response.json()["loop_status"] == "paused" else None

            response = wait_for(paused, timeout=20, what="the loop to pause")
            body = response.json()
            assert response.status_code == 200
            assert body["status"] == "degraded"
            assert body["checks"]["flags"]["status"] == "fail"
            assert body["checks"]["pause"]["status"] == "fail"
            assert "PHASE2_PYDANTIC_VALIDATION" in body["paused"]
            assert "'maybe'" in body["paused"]
            assert "PHASE2_PYDANTIC_VALIDATION" in body["flags_error"]
            dashboard = httpx.get(url + "/", timeout=10).text
            assert "paused" in dashboard
            assert "maybe" in dashboard
            stalled = body["iteration"]
            time.sleep(1.0)
            assert httpx.get(url + "/health", timeout=10).json()["iteration"] == stalled
            write_flags(flags, ALL_ON)
            wait_for(
                lambda: httpx.get(url + "/health", timeout=10).json()["iteration"] > stalled + 2,
                timeout=30,
                what="the loop to continue after the fix",
            )
            body = httpx.get(url + "/health", timeout=10).json()
        assert body["loop_status"] == "running"
        assert body["paused"] is None
        assert body["checks"]["flags"]["status"] == "pass"
        assert body["checks"]["pause"]["status"] == "pass"
