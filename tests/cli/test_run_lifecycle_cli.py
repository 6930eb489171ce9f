"""Hostile inputs to a run's lifecycle through the command line: clear errors, never tracebacks."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from typer.testing import CliRunner

from run_helpers import enter_workdir
from stratloop.cli import app


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    return enter_workdir(tmp_path, monkeypatch, start_date=None)


def _prices(path, rows):
    """A wide CSV of three assets with wiggling positive prices, ``rows`` consecutive days."""
    start = dt.date(2020, 1, 1)
    lines = ["Date,A,B,C"]
    lines.extend(
        f"{start + dt.timedelta(days=i)},{10 + i % 7},{20 + (i * 3) % 11},{30 + (i * 5) % 13}"
        for i in range(rows)
    )
    path.write_text("\n".join(lines) + "\n")


def _config(workdir, source):
    path = workdir / "config.yaml"
    path.write_text(
        "version: 1\n"
        "generation:\n  use_factor_graph: true\n  innovation_rate: 0\n"
        f"data:\n  source: {source}\n"
    )
    return path


class TestTooFewRows:
    @pytest.mark.parametrize("rows", [3, 6, 8])
    def test_a_file_too_short_to_evaluate_anything_is_refused_before_the_run(self, workdir, rows):
        """No run of failures: exit 1, the file, its dates and the fix; no run directory."""
        _prices(workdir / "few.csv", rows)
        config = _config(workdir, "few.csv")
        result = CliRunner().invoke(
            app, ["run", "--config", str(config), "--no-progress", "--iterations", "4"]
        )
        assert result.exit_code == 1, result.output
        text = " ".join(result.output.split())
        assert f"has {rows} dates" in text
        assert "too few to evaluate any candidate" in text
        assert "Use a longer history" in text
        assert "Traceback" not in result.output
        assert not list((workdir / "runs").glob("*/config.json"))
        assert not (workdir / "audit").exists()

    def test_a_file_long_enough_for_some_factor_runs(self, workdir):
        """A short but usable file is not refused: the run starts and commits its iterations."""
        _prices(workdir / "enough.csv", 160)
        config = _config(workdir, "enough.csv")
        result = CliRunner().invoke(
            app, ["run", "--config", str(config), "--no-progress", "--iterations", "4"]
        )
        assert result.exit_code == 0, result.output
        (run,) = (workdir / "runs").iterdir()
        assert json.loads((run / "run.json").read_text())["iterations"] == 4


class TestRunLockOnTheCommandLine:
    def test_a_held_run_is_refused_with_its_writer_named(self, workdir):
        """A resume while another holder has the run: exit 1, the holder's pid, no traceback."""
        from stratloop.loop.rundir import RunDir  # noqa: PLC0415 - after chdir

        result = CliRunner().invoke(app, ["run", "--no-progress", "--iterations", "4"])
        assert result.exit_code == 0, result.output
        (run,) = (workdir / "runs").iterdir()
        held = RunDir(run).lock(resume=True)
        payload = json.loads((run / "run.json").read_text())
        (run / "run.json").write_text(json.dumps({**payload, "writer": held.writer.as_json()}))
        try:
            second = CliRunner().invoke(
                app, ["run", "--no-progress", "--resume", run.name, "--iterations", "8"]
            )
        finally:
            held.release()
        assert second.exit_code == 1
        text = " ".join(second.output.split())
        assert f"is being run by another process (pid {held.writer.pid} on" in text
        assert "Traceback" not in second.output
