"""``stratloop report`` and the tear sheet ``stratloop run`` writes at the end."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from run_helpers import enter_workdir
from stratloop.cli import app


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory with a short data window so runs are quick."""
    return enter_workdir(tmp_path, monkeypatch)


def _output(result: object) -> str:
    return str(getattr(result, "output", "")).replace("\n", "")


@pytest.mark.slow
class TestReportCommand:
    def test_run_ends_with_the_tear_sheet(self, workdir: Path) -> None:
        """``stratloop run`` ends by saying where the champion's tear sheet is."""
        result = CliRunner().invoke(app, ["run", "--no-progress", "-n", "4"])
        assert result.exit_code == 0, result.output
        (run_dir,) = (workdir / "runs").iterdir()
        assert f"tear sheet: runs/{run_dir.name}/tearsheet.html" in _output(result)
        assert "equal weight" in (run_dir / "tearsheet.html").read_text()
        out = _output(result)
        assert "champion vs equal weight (EW) on sp500-20" in out
        assert "holdout sealed" in out
        assert "validation: " in out
        assert "distinguishable from equal weight at 5%" in out

    def test_report_latest_and_by_id(self, workdir: Path) -> None:
        """``report`` finds the newest run with no id, and a run by id, and writes the page."""
        assert CliRunner().invoke(app, ["run", "--no-progress", "--no-tearsheet", "-n", "4"])
        (run_dir,) = (workdir / "runs").iterdir()
        assert not (run_dir / "tearsheet.html").exists()
        result = CliRunner().invoke(app, ["report"])
        assert result.exit_code == 0, result.output
        assert (run_dir / "tearsheet.html").is_file()
        out = workdir / "elsewhere.html"
        result = CliRunner().invoke(app, ["report", run_dir.name, "-o", str(out)])
        assert result.exit_code == 0, result.output
        assert "holdout: sealed" in out.read_text()

    def test_report_finds_a_run_of_another_environment(self, workdir: Path) -> None:
        """A run under an environment's runs directory is found without naming it."""
        (workdir / "environments").mkdir()
        (workdir / "environments" / "lab.yaml").write_text(
            "config: none.yaml\ndata_source: sp500-20\nruns_dir: runs/lab\n"
            "audit_path: audit/lab.jsonl\nservice_url: http://127.0.0.1:1\n"
        )
        result = CliRunner().invoke(
            app, ["run", "--no-progress", "--no-tearsheet", "-n", "4", "--runs-dir", "runs/lab"]
        )
        assert result.exit_code == 0, result.output
        (run_dir,) = (workdir / "runs" / "lab").iterdir()
        result = CliRunner().invoke(app, ["report", run_dir.name])
        assert result.exit_code == 0, result.output
        assert (run_dir / "tearsheet.html").is_file()

    @pytest.mark.usefixtures("workdir")
    def test_unknown_run_names_the_directories_searched(self) -> None:
        """An unknown id is an error that says where it looked."""
        result = CliRunner().invoke(app, ["report", "20990101T000000Z-abcdef"])
        assert result.exit_code == 1
        assert "no run '20990101T000000Z-abcdef' in runs" in _output(result)


@pytest.mark.slow
class TestBacktestInputs:
    def test_template_name_spec_file_and_returns_csv(self, workdir: Path) -> None:
        """A template name, a champion.json and --returns-csv: the CSV is the benchmarked days."""
        result = CliRunner().invoke(app, ["run", "--no-progress", "--no-tearsheet", "-n", "2"])
        assert result.exit_code == 0, result.output
        (run_dir,) = (workdir / "runs").iterdir()
        champion = run_dir / "champion.json"
        result = CliRunner().invoke(
            app, ["backtest", str(champion), "--data", "sp500-20", "--json"]
        )
        assert result.exit_code == 0, result.output
        spec = json.loads(champion.read_text())["spec"]
        assert json.loads(result.output)["strategy"]["expression"] == spec["expression"]
        out = workdir / "returns.csv"
        result = CliRunner().invoke(app, ["backtest", "momentum_12_1", "--returns-csv", str(out)])
        assert result.exit_code == 0, result.output
        assert "delay(pct_change(close, 231), 21)" in result.output
        rows = list(csv.DictReader(io.StringIO(out.read_text())))
        assert {r["segment"] for r in rows} == {"train", "validation"}
        assert all(np.isfinite(float(r["benchmark"])) for r in rows)
