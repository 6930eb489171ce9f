"""A real `stratloop run` killed with SIGKILL twice, then resumed, equals an uninterrupted run."""

import json
import os
import signal
import subprocess
import time

import pytest

from run_helpers import ALL_ON as FLAGS
from run_helpers import run_command, run_config
from stratloop.audit import iter_records, verify_trail
from stratloop.loop.history import read_history

CONFIG = run_config(start="2018-01-02", end="2022-12-30", iterations=24, seed=11)


def _command(tmp_path, name, *extra):
    return run_command(tmp_path, *extra, audit=tmp_path / f"{name}.jsonl")


def _env():
    return {**os.environ, **FLAGS}


def _new_run(runs, before):
    new = set(runs.iterdir()) - before
    return new.pop() if new else None


def _kill_after(command, find_run, lines):
    """Start ``command``; SIGKILL it once its run's history has at least ``lines`` lines."""
    process = subprocess.Popen(
        command, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        run = find_run()
        history = None if run is None else run / "history.jsonl"
        if (
            history is not None
            and history.exists()
            and (history.read_bytes().count(b"\n") >= lines)
        ):
            break
        assert process.poll() is None, "the run ended before it could be killed"
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    return process.wait()


@pytest.mark.slow
class TestKillAndResume:
    def test_two_sigkills_then_resume_equal_an_uninterrupted_run(self, tmp_path):
        """Killed twice mid-run, resumed: same history as one run; every audit record once."""
        (tmp_path / "config.yaml").write_text(CONFIG)
        (tmp_path / "runs").mkdir()
        subprocess.run(_command(tmp_path, "full"), env=_env(), check=True, capture_output=True)
        full_dir = next((tmp_path / "runs").iterdir())
        expected = read_history(full_dir / "history.jsonl").records

        runs = tmp_path / "runs"
        before = set(runs.iterdir())
        killed = _kill_after(_command(tmp_path, "cut"), lambda: _new_run(runs, before), 6)
        assert killed == -signal.SIGKILL
        run_dir = _new_run(runs, before)
        resume = _command(tmp_path, "cut", "--resume", run_dir.name)
        assert _kill_after(resume, lambda: run_dir, 15) == -signal.SIGKILL
        done = subprocess.run(resume, env=_env(), capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr

        resumed = read_history(run_dir / "history.jsonl").records
        assert [r.comparable() for r in resumed] == [r.comparable() for r in expected]
        assert json.loads((run_dir / "run.json").read_text())["status"] == "completed"
        audit = tmp_path / "cut.jsonl"
        iterations = [r["iteration_num"] for _f, _l, r in iter_records(audit)]
        assert sorted(iterations) == list(range(24))
        report = verify_trail(audit)
        assert not report.breaks, report.breaks

    def test_a_held_run_cannot_be_resumed_by_a_second_process(self, tmp_path):
        """While a run is running, `stratloop run --resume` on it exits with the lock error."""
        (tmp_path / "config.yaml").write_text(CONFIG.replace("iterations: 24", "iterations: 400"))
        (tmp_path / "runs").mkdir()
        process = subprocess.Popen(
            _command(tmp_path, "held"),
            env=_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                runs = list((tmp_path / "runs").iterdir())
                if runs and (runs[0] / "history.jsonl").exists():
                    break
                time.sleep(0.02)
            second = subprocess.run(
                _command(tmp_path, "held2", "--resume", runs[0].name),
                env=_env(),
                capture_output=True,
                text=True,
                check=False,
            )
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait()
        assert second.returncode == 1
        assert "another process" in second.stderr
        assert "Traceback" not in second.stderr
