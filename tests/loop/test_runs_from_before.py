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


def _copy_run(fixture: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The fixture run copied to ``tmp_path``, which becomes the directory, all flags on."""
    shutil.copytree(fixture, tmp_path, dirs_exist_ok=True)
    monkeypatch.chdir(tmp_path)
    for key, value in ALL_ON.items():
        monkeypatch.setenv(key, value)
    return tmp_path


@pytest.fixture
def old_run(tmp_path, monkeypatch):
    """A copy of a six-iteration run whose history lines say ``iteration``, with its audit trail."""
    return _copy_run(FIXTURE, tmp_path, monkeypatch)


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


FINGERPRINT_FIXTURE = Path(__file__).parents[1] / "fixtures" / "run_v3_base64"
FINGERPRINT_RUN_ID = "20261207T044440Z-f56be6"
FIXTURE_ROOT = "/srv/stratloop"
"""Where the fixture run was made; its stored paths are moved to the test's directory."""


@pytest.fixture
def base64_run(tmp_path, monkeypatch):
    """A twelve-iteration run written before the compact fingerprints and zstd archives.

    Its history keeps each fingerprint as base64 of the codes, and its audit
    trail has gzip archives (rotated every few records).
    """
    _copy_run(FINGERPRINT_FIXTURE, tmp_path, monkeypatch)
    config = tmp_path / "runs" / FINGERPRINT_RUN_ID / "config.json"
    config.write_text(config.read_text().replace(FIXTURE_ROOT, str(tmp_path)))
    return tmp_path


class TestRunsFromBeforeCompactRecords:
    def test_the_old_fingerprints_resume_and_the_old_trail_still_verifies(self, base64_run):
        """Resumed to 18: base64 fingerprints are read back, gzip and zstd archives both verify."""
        history = base64_run / "runs" / FINGERPRINT_RUN_ID / "history.jsonl"
        before = read_history(history).records
        assert any(r.fingerprint and not r.fingerprint.startswith("p1:") for r in before)
        trail = base64_run / "audit" / "learning_audit.jsonl"
        assert sorted(p.suffix for p in trail.parent.glob("*.jsonl.*z*")) == [".gz"] * 4
        result = CliRunner().invoke(
            app, ["run", "--no-progress", "--resume", FINGERPRINT_RUN_ID, "--iterations", "18"]
        )
        assert result.exit_code == 0, result.output
        after = read_history(history).records
        assert [r.comparable() for r in after[:12]] == [r.comparable() for r in before]
        assert [r.iteration_num for r in after] == list(range(18))
        assert all(
            r.fingerprint.startswith("p1:") for r in after[12:] if r.fingerprint is not None
        )
        assert any(r.fingerprint for r in after[12:])
        assert {p.suffix for p in trail.parent.glob("*.jsonl.*z*")} == {".gz", ".zst"}
        verified = CliRunner().invoke(app, ["audit", "verify", "audit/learning_audit.jsonl"])
        assert verified.exit_code == 0, verified.output
        assert "18 records" in verified.output
        queried = CliRunner().invoke(
            app,
            [
                "audit", "query", "SELECT count(*) AS n FROM audit",
                "--audit-file", "audit/learning_audit.jsonl", "--format", "json",
            ],
        )
        assert queried.exit_code == 0, queried.output
        assert json.loads(queried.output) == [{"n": 18}]
