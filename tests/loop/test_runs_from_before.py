"""A run from before the typed iteration record (history schema 1) reads, resumes and verifies."""

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from run_helpers import ALL_ON
from stratloop.cli import app
from stratloop.loop.history import read_history

FIXTURE = Path(__file__).parents[1] / "fixtures" / "run_v1"
RUN_ID = "20261206T200143Z-e45c8b"


@pytest.fixture
def old_run(tmp_path, monkeypatch):
    """A copy of a six-iteration run whose history lines say ``iteration``, with its audit trail."""
    shutil.copytree(FIXTURE, tmp_path, dirs_exist_ok=True)
    monkeypatch.chdir(tmp_path)
    for key, value in ALL_ON.items():
        monkeypatch.setenv(key, value)
    return tmp_path


class TestRunsFromBefore:
    def test_the_old_history_reads_as_typed_records(self, old_run):
        """Every schema-1 line becomes an IterationRecord with its iteration number."""
        records = read_history(old_run / "runs" / RUN_ID / "history.jsonl").records
        assert [r.iteration_num for r in records] == list(range(6))
        assert records[0].champion
        assert all(r.evaluated and r.audited for r in records)

    def test_it_resumes_and_its_trail_still_verifies(self, old_run):
        """Resumed to nine: old lines kept byte for byte, new ones schema 3, the trail whole."""
        history = old_run / "runs" / RUN_ID / "history.jsonl"
        before = history.read_bytes()
        result = CliRunner().invoke(
            app, ["run", "--no-progress", "--resume", RUN_ID, "--iterations", "9"]
        )
        assert result.exit_code == 0, result.output
        after = history.read_bytes()
        assert after.startswith(before)
        new_lines = after[len(before) :].decode().splitlines()
        assert len(new_lines) == 3
        assert all('"iteration_num":' in line for line in new_lines)
        assert all('"schema_version":3' in line for line in new_lines)
        assert [r.iteration_num for r in read_history(history).records] == list(range(9))
        verified = CliRunner().invoke(app, ["audit", "verify", "audit/learning_audit.jsonl"])
        assert verified.exit_code == 0, verified.output
        assert "9 records" in verified.output


class TestStoredPaths:
    def test_a_relative_audit_path_is_stored_resolved_and_resume_elsewhere_keeps_one_trail(
        self, tmp_path, monkeypatch
    ):
        """Resuming from another directory appends to the same trail, not a second one."""
        for key, value in ALL_ON.items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("STRATLOOP_DATA__START_DATE", "2018-01-02")
        work = tmp_path / "work"
        work.mkdir()
        (work / "c.yaml").write_text(
            "version: 1\ngeneration: {use_factor_graph: true, innovation_rate: 0}\n"
            "loop: {runs_dir: runs, batch_size: 2}\naudit: {path: audit/trail.jsonl}\n"
        )
        monkeypatch.chdir(work)
        started = CliRunner().invoke(
            app, ["run", "--no-progress", "--config", "c.yaml", "--iterations", "2"]
        )
        assert started.exit_code == 0, started.output
        (run_dir,) = (work / "runs").iterdir()
        stored = json.loads((run_dir / "config.json").read_text())["config"]
        assert stored["audit"]["path"] == str(work / "audit" / "trail.jsonl")
        assert stored["loop"]["runs_dir"] == str(work / "runs")
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        monkeypatch.chdir(elsewhere)
        resumed = CliRunner().invoke(
            app,
            [
                "run", "--no-progress", "--runs-dir", str(work / "runs"),
                "--resume", run_dir.name, "--iterations", "4",
            ],
        )
        assert resumed.exit_code == 0, resumed.output
        assert not (elsewhere / "audit").exists()
        verified = CliRunner().invoke(app, ["audit", "verify", str(work / "audit")])
        assert verified.exit_code == 0, verified.output
        assert "4 records" in verified.output
