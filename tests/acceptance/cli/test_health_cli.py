"""`stratloop check phaseN-health` and `production-validation` against real small runs."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from service.service_helpers import make_environment
from stratloop.acceptance import health
from stratloop.environments import load_environment

SCRIPTS = Path(__file__).resolve().parents[3] / "scripts"


def _env(root: Path) -> Path:
    return make_environment(root, iterations=6, port=9, loop_extra="  max_failure_rate: 0.5\n")


def _script(root: Path, name: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPTS / name), *args],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _soak(root: Path, name: str, hours: str, *args: str) -> subprocess.CompletedProcess[str]:
    """The guide's production-validation script ``name`` on environment ``t`` for ``hours``."""
    return _script(root, name, "--environment", "t", "--duration-hours", hours, *args)


@pytest.fixture(scope="module")
def soaked(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An environment with one Phase 4 soak of 6 iterations behind it."""
    root = _env(tmp_path_factory.mktemp("health"))
    phase4 = "production_validation_phase4.py"
    done = _soak(root, phase4, "1", "--max-iterations", "6", "--output", "prod.json")
    assert done.returncode == 0, done.stdout + done.stderr
    return root


class TestProductionValidation:
    def test_soak_stops_at_cap_and_reports(self, soaked: Path) -> None:
        """The soak stops by itself at --max-iterations and reports every Phase 4 criterion."""
        report = json.loads((soaked / "prod.json").read_text())
        assert report["healthy"] is True
        assert report["run"]["iterations"] == 6
        assert report["soak"]["stopped_because"] == "the iteration cap was reached"
        metrics = {m["metric"]: m for m in report["metrics"]}
        assert metrics["audit_completeness"]["value"] == 1.0
        assert metrics["violation_count"]["value"] == 0.0
        assert metrics["html_report_success"]["value"] == 1.0
        assert metrics["audit_overhead_ms"]["target"] == "<5ms"
        assert metrics["audit_overhead_ms"]["value"] is None
        assert (
            "this run has 6 audit writes, a p99 needs 100" in metrics["audit_overhead_ms"]["detail"]
        )

    def test_soak_stops_at_duration(self, tmp_path: Path) -> None:
        """A zero-hour soak stops at its deadline, having committed what it had."""
        root = _env(tmp_path)
        done = _soak(root, "production_validation_phase2.py", "0", "--output", "p2.json")
        report = json.loads((root / "p2.json").read_text())
        assert report["soak"]["stopped_because"] == "the 0 h duration ended"
        assert report["soak"]["flags"]["PHASE3_STRATEGY_PATTERN"] is False
        assert done.returncode == (0 if report["healthy"] else 1)

    def test_a_soak_shorter_than_start_up_judges_real_iterations(self, tmp_path: Path) -> None:
        """Issue 16: a 0.36 s soak counts from the first commit, so a healthy loop passes."""
        root = _env(tmp_path)
        done = _soak(root, "production_validation_phase4.py", "0.0001", "--output", "short.json")
        report = json.loads((root / "short.json").read_text())
        assert done.returncode == 0, done.stdout + done.stderr
        assert report["status"] == "healthy"
        assert report["run"]["iterations"] >= 1
        assert report["soak"]["startup_s"] > 0
        assert "not enough data for Audit Logging Overhead" in " ".join(done.stdout.split())

    def test_no_iteration_in_time_is_not_enough_data_not_unhealthy(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A soak that could judge nothing says so instead of calling the loop unhealthy."""
        root = _env(tmp_path)
        monkeypatch.chdir(root)
        monkeypatch.setattr(health, "STARTUP_LIMIT_S", 0.0)
        env = load_environment("t")
        report = health.production_validation(
            4,
            env.load_config(flags=health.phase_flags(4)),
            env.config_document(),
            environment="t",
            duration_hours=1.0,
        )
        assert report.status == "not_enough_data"
        assert not report.healthy
        checks = {c.name: c for c in report.checks}
        assert checks["iterations"].detail.startswith("not enough data")
        assert "start-up limit" in report.as_dict()["soak"]["stopped_because"]


class TestHealthCheck:
    def test_brace_expansion_outputs(self, soaked: Path) -> None:
        """`--output day{1,2,3}.json` as bash expands it writes the report to all three files."""
        done = _script(
            soaked,
            "phase4_health_check.py",
            "--environment",
            "t",
            "--output",
            "day1.json",
            "day2.json",
            "day3.json",
        )
        assert done.returncode == 0, done.stdout + done.stderr
        reports = [json.loads((soaked / f"day{i}.json").read_text()) for i in (1, 2, 3)]
        assert reports[0]["metrics"] == reports[2]["metrics"]
        first = reports[0]
        assert first["check"] == "phase4_health"
        assert first["service"]["reachable"] is False
        for metric in first["metrics"]:
            assert {"value", "target", "alert_threshold", "verdict"} <= set(metric)

    def test_an_edited_history_record_is_named(self, soaked: Path, tmp_path: Path) -> None:
        """A history line stripped of a key every record has is an error naming its iteration."""
        root = tmp_path / "copy"
        shutil.copytree(soaked, root)
        (history,) = root.glob("runs/t/*/history.jsonl")
        lines = history.read_text().splitlines()
        record = json.loads(lines[3])
        del record["status"]
        lines[3] = json.dumps(record)
        history.write_text("\n".join(lines) + "\n")
        done = _script(root, "phase4_health_check.py", "--environment", "t", "--output", "x.json")
        assert done.returncode != 0
        assert "line 4 is corrupt (history record 3 lacks the key 'status'" in (
            done.stdout + done.stderr
        )
        assert "Traceback" not in done.stderr

    def test_phase3_check_fails_when_phase_was_off(self, tmp_path: Path) -> None:
        """A run made with Phase 3 off fails the Phase 3 check, saying which phase was off."""
        root = _env(tmp_path)
        soak = _soak(root, "production_validation_phase2.py", "1", "--max-iterations", "2")
        assert soak.returncode == 0, soak.stdout + soak.stderr
        done = _script(root, "phase3_health_check.py", "--environment", "t", "--output", "p3.json")
        assert done.returncode == 1
        report = json.loads((root / "p3.json").read_text())
        assert report["checks"]["flags"]["status"] == "fail"
        assert "phase 3 off" in report["checks"]["flags"]["detail"]

    def test_no_run_says_what_to_run(self, tmp_path: Path) -> None:
        """With no run yet the check exits non-zero, writes nothing and says what to run."""
        root = _env(tmp_path)
        done = _script(root, "phase2_health_check.py", "--environment", "t", "--output", "x.json")
        assert done.returncode == 1
        assert "stratloop serve --environment t" in done.stderr
        assert not (root / "x.json").exists()
