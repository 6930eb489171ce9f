"""Runs of every environment in runs and show; run --resume latest, --data, --set, progress."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from run_helpers import enter_workdir
from stratloop.cli import app
from stratloop.cli._progress import LineProgress, format_duration
from stratloop.data import load_dataset

QUICK = ["--no-progress", "--no-tearsheet"]


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory with a short data window and an environment ``lab``."""
    enter_workdir(tmp_path, monkeypatch)
    (tmp_path / "environments").mkdir()
    (tmp_path / "environments" / "lab.yaml").write_text(
        "config: none.yaml\ndata_source: sp500-20\nruns_dir: runs/lab\n"
        "audit_path: audit/lab.jsonl\nservice_url: http://127.0.0.1:1\n"
    )
    return tmp_path


def _invoke(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.slow
class TestRunsOfEveryEnvironment:
    def test_runs_lists_both_directories_and_show_finds_either(self, workdir: Path) -> None:
        """Runs of the default directory and of an environment are listed and shown; latest."""
        _invoke("run", *QUICK, "-n", "2")
        _invoke("run", *QUICK, "-n", "2", "--runs-dir", "runs/lab")
        (default,) = (p.name for p in (workdir / "runs").iterdir() if p.name != "lab")
        (lab,) = (p.name for p in (workdir / "runs" / "lab").iterdir())
        listed = _invoke("runs")
        assert default in listed
        assert lab in listed
        assert f"run {lab}: completed" in _invoke("show", lab)
        assert f"run {default}: completed" in _invoke("show", default)
        only_lab = _invoke("runs", "-e", "lab")
        assert lab in only_lab
        assert default not in only_lab
        assert f"run {lab}:" in _invoke("show", "latest")


@pytest.mark.slow
class TestRunOptions:
    def test_resume_latest(self, workdir: Path) -> None:
        """``--resume latest`` continues the newest run to the new total."""
        _invoke("run", *QUICK, "-n", "2")
        out = _invoke("run", *QUICK, "--resume", "latest", "-n", "4")
        (run_dir,) = (p for p in (workdir / "runs").iterdir() if p.name != "lab")
        assert f"run {run_dir.name}: completed, 4/4" in out

    def test_data_file_and_set(self, workdir: Path) -> None:
        """``--data FILE`` and ``--set`` reach the stored configuration."""
        panel = load_dataset()
        rows = ["Date," + ",".join(panel.assets)]
        rows.extend(
            f"{panel.dates[i]}," + ",".join(f"{v:.4f}" for v in panel.close[i])
            for i in range(len(panel.dates) - 600, len(panel.dates))
        )
        (workdir / "prices.csv").write_text("\n".join(rows) + "\n")
        _invoke(
            "run", *QUICK, "-n", "2", "--data", "prices.csv", "--set", "backtest.cost_bps=25"
        )
        (run_dir,) = (p for p in (workdir / "runs").iterdir() if p.name != "lab")
        config = json.loads((run_dir / "config.json").read_text())["config"]
        assert config["data"]["source"] == str(workdir / "prices.csv")
        assert config["backtest"]["cost_bps"] == 25

    @pytest.mark.usefixtures("workdir")
    def test_same_field_twice_is_an_error(self) -> None:
        """``--data`` and ``--set data.source=...`` that disagree are refused."""
        result = CliRunner().invoke(
            app, ["run", *QUICK, "-n", "2", "--data", "sp500-20", "--set", "data.source=x.csv"]
        )
        assert result.exit_code == 1
        assert "data.source is set twice" in result.output

    def test_progress_lines_without_a_terminal(self, workdir: Path) -> None:
        """Without a TTY the run logs plain progress lines, the last one at the end."""
        del workdir
        result = CliRunner().invoke(
            app, ["run", "--no-tearsheet", "-n", "4", "--progress-every", "0.1"]
        )
        assert result.exit_code == 0, result.output
        assert "iterations 4/4 (100.0%)" in result.output
        assert "best information_ratio" in result.output


class TestLineProgress:
    def test_one_line_per_interval_with_eta(self) -> None:
        """Lines come once per interval and say the rate, best and ETA."""
        now = [0.0]
        console = Console(record=True, width=200)
        sink = LineProgress(console, "sharpe", 10.0, clock=lambda: now[0])
        sink.begin(100, 0)
        record = object()
        for i in range(1, 21):
            now[0] = float(i)
            sink.committed(record, 1.5)  # type: ignore[arg-type]
        text = console.export_text()
        assert text.splitlines() == [
            "iterations 10/100 (10.0%), 1.0 it/s, best sharpe 1.500, ETA 1m30s",
            "iterations 20/100 (20.0%), 1.0 it/s, best sharpe 1.500, ETA 1m20s",
        ]

    @pytest.mark.parametrize(
        ("seconds", "text"), [(9, "9s"), (75, "1m15s"), (3725, "1h02m"), (0.4, "0s")]
    )
    def test_durations(self, seconds: float, text: str) -> None:
        """Durations read as h/m/s."""
        assert format_duration(seconds) == text
