"""Soak: runs fighting over one audit trail, its lock files deleted again and again.

Regression test for issue 13: deleting the audit trail's ``.lock`` used to
let a second run sharing the same ``audit.path`` write beside the first,
breaking the hash chain for good. The trail's lock is now also held on its
head file, so whatever happens to lock files, one process writes the trail
and every other one is refused with the trail's path and the writer's pid.
"""

import itertools
import os
import signal
import subprocess
import sys
import time

import pytest

from stratloop.audit import iter_records, verify_trail

CONFIG = """\
version: 1
generation:
  use_factor_graph: true
  innovation_rate: 0
data:
  source: sp500-20
  start_date: 2019-01-02
  end_date: 2021-12-31
loop:
  iterations: 5000
  batch_size: 4
  seed: 13
audit:
  fsync: always
"""
FLAGS = {
    "ENABLE_GENERATION_REFACTORING": "true",
    "PHASE1_CONFIG_ENFORCEMENT": "true",
    "PHASE2_PYDANTIC_VALIDATION": "true",
    "PHASE3_STRATEGY_PATTERN": "true",
    "PHASE4_AUDIT_TRAIL": "true",
}


def _command(tmp_path, *extra):
    return [
        sys.executable,
        "-c",
        "from stratloop.cli import main; import sys; main(sys.argv[1:])",
        "run",
        "--config",
        str(tmp_path / "config.yaml"),
        "--no-progress",
        "--no-tearsheet",
        "--runs-dir",
        str(tmp_path / "runs"),
        "--audit-path",
        str(tmp_path / "audit" / "trail.jsonl"),
        *extra,
    ]


def _start(command, output=subprocess.PIPE):
    return subprocess.Popen(
        command, env={**os.environ, **FLAGS}, stdout=output, stderr=output, text=True
    )


def _delete_lock_files(tmp_path):
    """What a temp cleaner or an operator does: every file named like a lock goes."""
    deleted = 0
    for path in tmp_path.rglob("*.lock"):
        if path.is_file():
            path.unlink()
            deleted += 1
    return deleted


def _lines(path):
    return path.read_bytes().count(b"\n") if path.exists() else 0


@pytest.mark.slow
class TestTwoTrailWriters:
    def test_runs_sharing_an_audit_path_never_interleave_the_trail(self, tmp_path):
        """New runs on a live run's trail are refused; two racing ones: one writes, one chain."""
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
                intruder = subprocess.run(
                    _command(tmp_path, "--iterations", "4"),
                    env={**os.environ, **FLAGS},
                    capture_output=True,
                    text=True,
                    check=False,
                    timeout=120,
                )
                assert intruder.returncode == 1, intruder.stderr
                assert f"audit trail {trail} is in use by another process" in intruder.stderr
                assert f"pid {first.pid}" in intruder.stderr
                assert "Traceback" not in intruder.stderr
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
        assert codes == [0, 1], outcomes
        loser = next(err for _out, err, code in outcomes if code == 1)
        assert "in use by another process" in loser
        assert "Traceback" not in loser

        records = [record for _f, _l, record in iter_records(trail)]
        assert [r["seq"] for r in records] == list(range(len(records)))
        runs = [r["run_id"] for r in records]
        assert len(set(runs)) == 2
        changes = sum(1 for a, b in itertools.pairwise(runs) if a != b)
        assert changes == 1, "the two runs' records interleave"
        assert runs.count(runs[-1]) == 12
        report = verify_trail(trail)
        assert not report.breaks, report.breaks
