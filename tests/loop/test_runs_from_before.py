"""A run from before the typed iteration record (history schema 1) reads, resumes and verifies."""

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stratloop.cli import app
from stratloop.loop.history import read_history

FIXTURE = Path(__file__).parents[1] / "fixtures" / "run_v1"
RUN_ID = "20261206T200143Z-e45c8b"
ALL_ON = {
    "ENABLE_GENERATION_REFACTORING": "true",
    "PHASE1_CONFIG_ENFORCEMENT": "true",
    "PHASE2_PYDANTIC_VALIDATION": "true",
    "PHASE3_STRATEGY_PATTERN": "true",
    "PHASE4_AUDIT_TRAIL": "true",
}


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
        """Resumed to nine: old lines kept byte for byte, new ones schema 2, the trail whole."""
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
        assert all('"schema_version":2' in line for line in new_lines)
        assert [r.iteration_num for r in read_history(history).records] == list(range(9))
        verified = CliRunner().invoke(app, ["audit", "verify", "audit/learning_audit.jsonl"])
        assert verified.exit_code == 0, verified.output
        assert "9 records" in verified.output
