from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from run_helpers import ALL_ON, enter_workdir
from stratloop.cli import app
from stratloop.loop.history import read_history

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A working directory with a short data window so runs are quick."""
    return enter_workdir(tmp_path, monkeypatch)


class TestRunCommand:
    def test_default_run_prints_champion_metrics_and_directory(self, workdir):
        """With no config, the defaults run factor-graph-only and report the champion."""
        result = CliRunner().invoke(app, ["run", "--no-progress", "--iterations", "8"])
        assert result.exit_code == 0, result.output
        assert "completed, 8/8 iterations" in result.output
        assert "champion (iteration" in result.output
        assert "validation" in result.output
        assert "equal weight" in result.output
        assert "information_ratio" in result.output
        assert "verdict (validation):" in result.output
        assert "holdout: sealed" in result.output
        assert "test" not in result.output
        run_dirs = list((workdir / "runs").iterdir())
        assert len(run_dirs) == 1
        assert f"run directory: runs/{run_dirs[0].name}" in result.output.replace("\n", "")
        records = read_history(run_dirs[0] / "history.jsonl").records
        assert {r.outcome.method_used for r in records} == {"factor_graph"}
        assert (workdir / "audit" / "learning_audit.jsonl").is_file()

    def test_phase4_off_writes_no_audit_trail(self, workdir, monkeypatch):
        """With PHASE4_AUDIT_TRAIL=false the audit location is never touched."""
        monkeypatch.setenv("PHASE4_AUDIT_TRAIL", "false")
        result = CliRunner().invoke(app, ["run", "--no-progress", "--iterations", "4"])
        assert result.exit_code == 0, result.output
        assert not (workdir / "audit").exists()

    def test_runs_and_show_summarise_a_run(self, workdir):
        """`runs` lists the run with its status and `show` prints its champion."""
        CliRunner().invoke(app, ["run", "--no-progress", "--iterations", "4"])
        run_id = next((workdir / "runs").iterdir()).name
        listed = CliRunner().invoke(app, ["runs"])
        assert listed.exit_code == 0, listed.output
        assert run_id in listed.output
        assert "completed" in listed.output
        shown = CliRunner().invoke(app, ["show", run_id])
        assert shown.exit_code == 0, shown.output
        assert "completed, 4/4 iterations" in shown.output
        assert "priority_adherence: 1.0000" in shown.output

    @pytest.mark.usefixtures("workdir")
    def test_resume_of_an_unknown_run_is_a_clear_error(self):
        """An unknown --resume id exits 1 with a message naming it, no traceback."""
        result = CliRunner().invoke(app, ["run", "--no-progress", "--resume", "nope"])
        assert result.exit_code == 1
        assert "no run 'nope'" in result.output
        assert "Traceback" not in result.output

    def test_resume_refuses_another_seed(self, workdir):
        """A resumed run keeps its seed; --seed with another value is an error."""
        CliRunner().invoke(app, ["run", "--no-progress", "--iterations", "4"])
        run_id = next((workdir / "runs").iterdir()).name
        result = CliRunner().invoke(
            app, ["run", "--no-progress", "--resume", run_id, "--seed", "5"]
        )
        assert result.exit_code == 1
        assert "keeps its seed" in result.output

    def test_resume_extends_a_completed_run(self, workdir):
        """--resume with a larger --iterations continues from the last committed iteration."""
        CliRunner().invoke(app, ["run", "--no-progress", "--iterations", "4"])
        run_id = next((workdir / "runs").iterdir()).name
        result = CliRunner().invoke(
            app, ["run", "--no-progress", "--resume", run_id, "--iterations", "8"]
        )
        assert result.exit_code == 0, result.output
        records = read_history(workdir / "runs" / run_id / "history.jsonl").records
        assert [r.iteration_num for r in records] == list(range(8))

    def test_resume_reports_a_torn_audit_tail_it_moved_aside(self, workdir):
        """A crash mid audit write leaves a torn line; resume repairs it and says so."""
        CliRunner().invoke(app, ["run", "--no-progress", "--iterations", "4"])
        run_id = next((workdir / "runs").iterdir()).name
        trail = workdir / "audit" / "learning_audit.jsonl"
        with trail.open("ab") as handle:
            handle.write(b'{"seq": 4, "half a rec')
        result = CliRunner().invoke(
            app, ["run", "--no-progress", "--resume", run_id, "--iterations", "6"]
        )
        assert result.exit_code == 0, result.output
        out = " ".join(result.output.split())
        assert "note: torn last line in" in out
        assert "the chain continues from the last complete record" in out
        assert len(list(trail.parent.glob("learning_audit.jsonl.*.torn"))) == 1

    def test_a_bad_flags_file_is_an_error_naming_the_value(self, workdir):
        """A flags file with a non-boolean value stops the run before it starts."""
        values = {**ALL_ON, "PHASE4_AUDIT_TRAIL": "maybe"}
        (workdir / "flags.env").write_text("".join(f"{k}={v}\n" for k, v in values.items()))
        result = CliRunner().invoke(
            app, ["run", "--no-progress", "--iterations", "4", "--flags-file", "flags.env"]
        )
        assert result.exit_code == 1
        assert "maybe" in result.output
        assert not (workdir / "runs").exists()


class TestInterrupt:
    def test_ctrl_c_commits_the_batch_and_says_how_to_resume(self, tmp_path):
        """SIGINT to a real `stratloop run` stops it after a batch, resumable."""
        env = {**os.environ, **ALL_ON, "STRATLOOP_DATA__START_DATE": "2018-01-02"}
        process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from stratloop.cli import main; main()",
                "run",
                "--no-progress",
                "--iterations",
                "400",
            ],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 60
        history = None
        while time.monotonic() < deadline and history is None:
            found = list(tmp_path.glob("runs/*/history.jsonl"))
            history = found[0] if found and found[0].stat().st_size else None
            time.sleep(0.02)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
        assert process.returncode == 0, err
        assert "interrupted" in out
        assert "resume with: stratloop run --resume" in out.replace("\n", " ")
        assert history is not None
        records = read_history(history).records
        assert 0 < len(records) < 400
        assert len(records) % 4 == 0
        run = json.loads((history.parent / "run.json").read_text())
        assert run["status"] == "interrupted"


class TestGuideScript:
    @pytest.mark.slow
    def test_audit_logging_script_runs_as_written(self, tmp_path):
        """`python scripts/test_audit_logging.py --iterations 100 --environment staging` passes."""
        env = {**os.environ, **ALL_ON}
        output = tmp_path / "staging_audit_test.jsonl"
        done = subprocess.run(
            [
                sys.executable,
                str(ROOT / "scripts/test_audit_logging.py"),
                "--iterations",
                "100",
                "--environment",
                "staging",
                "--output",
                str(output),
            ],
            cwd=ROOT,
            env={**env, "STRATLOOP_LOOP__RUNS_DIR": str(tmp_path / "runs")},
            capture_output=True,
            text=True,
            check=False,
            timeout=240,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert "PASS: 100 iterations = 100 audit records" in done.stdout
        assert "scripted OpenAI-compatible server" in done.stdout
        assert len(output.read_text().splitlines()) == 100


class TestFailuresAreSaid:
    def test_a_run_whose_llm_is_down_says_so_in_its_summary_and_in_show(self, workdir):
        """Iterations that failed are counted by cause, not hidden behind 'completed'."""
        (workdir / "c.yaml").write_text(
            "version: 1\n"
            "generation: {use_factor_graph: null, innovation_rate: 50, on_llm_failure: fail}\n"
            "llm: {enabled: true, base_url: 'http://127.0.0.1:9/v1', model: m,"
            " max_retries: 0, timeout_s: 2}\n"
        )
        result = CliRunner().invoke(
            app, ["run", "--no-progress", "--config", "c.yaml", "--iterations", "8"]
        )
        assert result.exit_code == 0, result.output
        said = " ".join(result.output.split())
        assert "iterations produced no evaluation: generation failed" in said
        assert "LLMUnavailableError" in said
        run_id = next((workdir / "runs").iterdir()).name
        shown = CliRunner().invoke(app, ["show", run_id])
        assert "iterations produced no evaluation" in " ".join(shown.output.split())
