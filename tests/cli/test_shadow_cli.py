from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stratloop.cli import app

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A working directory with the repository's environments and configs."""
    for name in ("environments", "configs"):
        (tmp_path / name).symlink_to(ROOT / name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


class TestDailyValidation:
    def test_keeps_the_days_report_under_logs(self, workdir):
        """Without --output the report goes to logs/shadow/ENV/DATE.json, with the day's seed."""
        result = CliRunner().invoke(
            app, ["shadow", "daily-validation", "--environment", "staging",
                  "--date", "2024-06-03", "--iterations", "30"],
        )
        assert result.exit_code == 0, result.output
        report = json.loads((workdir / "logs/shadow/staging/2024-06-03.json").read_text())
        assert (report["date"], report["total"], report["passed"]) == ("2024-06-03", 30, True)
        assert report["seed"] != report["run_seed"]
        assert "scripted loopback" in report["generators"]

    def test_a_date_that_is_not_iso_is_a_usage_error(self, workdir):
        """--date takes YYYY-MM-DD only, so a day is never guessed."""
        del workdir
        result = CliRunner().invoke(
            app, ["shadow", "daily-validation", "--environment", "staging", "--date", "03/06/2024"],
        )
        assert result.exit_code == 2
        assert "Traceback" not in result.output


class TestProduction:
    def test_guide_command_runs_as_written_and_stops_at_the_cap(self, workdir):
        """`production_shadow_mode.py --percentage 10 --duration-hours 24` ends at its cap."""
        done = subprocess.run(
            [sys.executable, str(ROOT / "scripts/production_shadow_mode.py"), "--percentage", "10",
             "--duration-hours", "24", "--max-iterations", "60",
             "--output", "prod_shadow_10pct.json"],
            cwd=workdir, capture_output=True, text=True, check=False, timeout=120,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        report = json.loads((workdir / "prod_shadow_10pct.json").read_text())
        assert (report["stopped_by"], report["total"], report["equivalence"]) == (
            "max_iterations", 60, 1.0,
        )
        assert report["environment"] == "production"
        assert "scripted loopback" in " ".join(done.stdout.split())

    def test_zero_duration_observes_nothing_and_fails(self, workdir):
        """--duration-hours 0 stops before the first iteration; nothing compared never passes."""
        out = workdir / "p.json"
        result = CliRunner().invoke(
            app, ["shadow", "production", "--percentage", "50", "--duration-hours", "0",
                  "--output", str(out)],
        )
        assert result.exit_code == 1, result.output
        assert "no iteration was compared" in result.output
        report = json.loads(out.read_text())
        assert (report["stopped_by"], report["total"], report["passed"]) == ("duration", 0, False)

    def test_zero_percentage_is_refused(self, workdir):
        """A 0% rollout shadows nothing: a usage error, not a vacuous pass."""
        del workdir
        result = CliRunner().invoke(
            app, ["shadow", "production", "--percentage", "0", "--duration-hours", "1"],
        )
        assert result.exit_code == 2
        assert "--percentage" in result.output
