"""Soak: processes fighting over one run or one audit trail, lock files deleted again and again.

Regression tests for issue 13, item 1: deleting ``runs/ID/.lock`` and the audit
trail's ``.lock`` used to let ``stratloop run --resume ID`` run beside the
live process, interleaving the history and breaking the audit chain; and a
second run sharing the same ``audit.path`` to write beside the first. The
run lock is now held on ``history.jsonl`` itself and the trail's lock on its
head file too, so whatever happens to lock files, one process writes a run or
a trail and every other one is refused before it touches it.
"""

import itertools
import os
import signal
import subprocess
import time

import pytest

from run_helpers import ALL_ON as FLAGS
from run_helpers import run_command, run_config
from stratloop.audit import iter_records, verify_trail
from stratloop.loop.history import read_history

CONFIG = run_config(
    start="2019-01-02",
    end="2021-12-31",
    iterations=5000,
    seed=13,
    extra="audit:\n  fsync: always\n",
)


def _command(tmp_path, *extra):
    return run_command(tmp_path, *extra, audit=tmp_path / "audit" / "trail.jsonl")


def _start(command, output=subprocess.PIPE):
    return subprocess.Popen(
        command, env={**os.environ, **FLAGS}, stdout=output, stderr=output, text=True
    )


def _delete_lock_files(tmp_path):
    """What a temp cleaner or an operator does: every file named like a lock goes."""
    deleted = 0
    for path in tmp_path.rglob("*"):
        if path.is_file() and (path.name.endswith(".lock") or path.name == ".lock"):
            path.unlink()
            deleted += 1
    return deleted


def _lines(history):
    return history.read_bytes().count(b"\n") if history.exists() else 0


def _refused(command, *messages):
    """Run an intruder: it exits 1 with ``messages`` on stderr and no traceback."""
    intruder = subprocess.run(
        command,
        env={**os.environ, **FLAGS},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert intruder.returncode == 1, intruder.stderr
    for message in messages:
        assert message in intruder.stderr
    assert "Traceback" not in intruder.stderr


def _one_winner(outcomes, message):
    """Of two racers one finished and one was refused with ``message``, no traceback."""
    codes = sorted(code for _out, _err, code in outcomes)
    assert codes == [0, 1], outcomes
    loser = next(err for _out, err, code in outcomes if code == 1)
    assert message in loser
    assert "Traceback" not in loser


def _wait_for(history, lines, process):
    deadline = time.monotonic() + 120
    while _lines(history) < lines:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the run made no progress"
        time.sleep(0.02)


@pytest.mark.slow
class TestTwoWriters:
    def test_fighting_processes_never_interleave_a_history(self, tmp_path):
        """Refused resumes beside a live run, then two racing resumes: one history, one chain."""
        (tmp_path / "config.yaml").write_text(CONFIG)
        (tmp_path / "runs").mkdir()
        first = _start(_command(tmp_path), subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 60
            while not any((tmp_path / "runs").iterdir()):
                assert time.monotonic() < deadline
                time.sleep(0.02)
            (run_dir,) = (tmp_path / "runs").iterdir()
            history = run_dir / "history.jsonl"
            _wait_for(history, 4, first)

            deleted = 0
            for _ in range(2):
                assert first.poll() is None
                deleted += _delete_lock_files(tmp_path)
                _refused(
                    _command(tmp_path, "--resume", run_dir.name),
                    f"another process (pid {first.pid} on",
                )
            assert first.poll() is None
            assert deleted >= 1, "the audit trail's lock file was there to delete"

            first.send_signal(signal.SIGKILL)
            first.wait()
            _delete_lock_files(tmp_path)
            total = str(_lines(history) + 12)
            resume = _command(tmp_path, "--resume", run_dir.name, "--iterations", total)
            racers = [_start(resume) for _ in range(2)]
            outcomes = [(*racer.communicate(timeout=240), racer.returncode) for racer in racers]
        finally:
            for process in (first, *locals().get("racers", ())):
                if process.poll() is None:
                    process.kill()
                process.communicate()

        _one_winner(outcomes, "another process")

        records = read_history(history).records
        assert [r.iteration_num for r in records] == list(range(int(total)))
        assert _lines(history) == int(total)
        trail = tmp_path / "audit" / "trail.jsonl"
        audited = [r["iteration_num"] for _f, _l, r in iter_records(trail)]
        assert sorted(audited) == list(range(int(total)))
        report = verify_trail(trail)
        assert not report.breaks, report.breaks


@pytest.mark.slow
class TestTwoTrailWriters:
    def test_runs_sharing_an_audit_path_never_interleave_the_trail(self, tmp_path):
        """New runs on a live run's trail are refused; two racing ones: one chain, never mixed.

        A racer that starts after the other has finished its 12 iterations is not refused
        (there is no writer left); then the two runs' records follow each other, whole.
        """
        (tmp_path / "config.yaml").write_text(CONFIG)
        trail = tmp_path / "audit" / "trail.jsonl"
        first = _start(_command(tmp_path), subprocess.DEVNULL)
        racers = []
        try:
            deadline = time.monotonic() + 120
            while _lines(trail) < 4:
                assert first.poll() is None, "the first run stopped"
                assert time.monotonic() < deadline, "the first run wrote no audit record"
                time.sleep(0.02)
            deleted = 0
            for _ in range(2):
                deleted += _delete_lock_files(tmp_path)
                _refused(
                    _command(tmp_path, "--iterations", "4"),
                    f"audit trail {trail} is in use by another process",
                    f"pid {first.pid}",
                )
                assert first.poll() is None
            assert deleted >= 1, "the trail's lock file was there to delete"

            first.send_signal(signal.SIGKILL)
            first.wait()
            _delete_lock_files(tmp_path)
            racers = [_start(_command(tmp_path, "--iterations", "12")) for _ in range(2)]
            outcomes = [(*racer.communicate(timeout=240), racer.returncode) for racer in racers]
        finally:
            for process in (first, *racers):
                if process.poll() is None:
                    process.kill()
                process.communicate()

        codes = sorted(code for _out, _err, code in outcomes)
        if codes == [0, 0]:
            finished = 2
        else:
            _one_winner(outcomes, "in use by another process")
            finished = 1

        records = [record for _f, _l, record in iter_records(trail)]
        assert [r["seq"] for r in records] == list(range(len(records)))
        runs = [r["run_id"] for r in records]
        assert len(set(runs)) == 1 + finished
        changes = sum(1 for a, b in itertools.pairwise(runs) if a != b)
        assert changes == finished, "the runs' records interleave"
        assert runs.count(runs[-1]) == 12
        report = verify_trail(trail)
        assert not report.breaks, report.breaks
