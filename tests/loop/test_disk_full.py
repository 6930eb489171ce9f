"""A full disk stops the run resumable, with a clear error and no temp files; resume then works.

The disk is real: a size-limited tmpfs mounted for the test (needs root and a
kernel that lets us mount), and, everywhere, a process whose file-size limit
(``RLIMIT_FSIZE``) the history outgrows, which the kernel reports as EFBIG.
"""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from loop_helpers import factor_graph_source, hash_evaluator, loop_config

from disk_helpers import tmpfs
from run_helpers import AUDIT_OFF as FLAGS
from run_helpers import run_args, run_config
from stratloop.errors import RunStorageError
from stratloop.flags import EnvFlagSource
from stratloop.loop.history import read_history
from stratloop.loop.rundir import RunDir
from stratloop.loop.runner import LoopParts, LoopRunner, open_run


def _parts():
    return LoopParts(
        factor_graph=factor_graph_source(), evaluator=hash_evaluator, flags=EnvFlagSource(FLAGS)
    )


@pytest.fixture
def small_disk(tmp_path):
    """A 1 MiB tmpfs at ``tmp_path / "disk"``; skipped where mounting is not allowed."""
    with tmpfs(tmp_path / "disk", "size=1m", required=False) as mount:
        yield mount


def _fill(directory: Path, leave: int) -> Path:
    """Fill ``directory``'s file system up to ``leave`` free bytes; returns the ballast file."""
    stat = os.statvfs(directory)
    ballast = directory / "ballast"
    ballast.write_bytes(b"\0" * max(0, stat.f_bavail * stat.f_frsize - leave))
    return ballast


def _temp_files(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if p.name.endswith(".tmp"))


class TestDiskFull:
    def test_a_full_disk_stops_the_run_resumable_and_resume_completes_it(
        self, tmp_path, small_disk
    ):
        """ENOSPC mid-run: stopped (resumable), no temp files, no torn line; freed, it completes."""
        expected_config = loop_config(tmp_path / "reference", iterations=120)
        LoopRunner.create(expected_config, lambda _u: _parts(), run_id="ref").run()
        expected = read_history(tmp_path / "reference" / "runs" / "ref" / "history.jsonl")

        runs = small_disk / "runs"
        config = loop_config(small_disk, iterations=120)
        runner = LoopRunner.create(config, lambda _u: _parts(), run_id="r")
        ballast = _fill(small_disk, 64 * 1024 + 40 * 1024)
        with pytest.raises(RunStorageError, match="No space left on device") as caught:
            runner.run()
        assert caught.value.disk_full
        assert "free disk space" in str(caught.value)

        rundir = RunDir(runs / "r")
        run = json.loads(rundir.run.read_text())
        assert run["status"] == "stopped (resumable)"
        assert "resume with: stratloop run --resume r" in run["message"]
        assert _temp_files(rundir.root) == []
        assert not rundir.reserve.exists()
        cut = read_history(rundir.history)
        assert cut.torn is None
        assert 0 < len(cut.records) < 120
        assert run["iterations"] == len(cut.records)

        ballast.unlink()
        rundir, stored = open_run(runs, "r")
        summary = LoopRunner.resume(rundir, stored, lambda _u: _parts()).run()
        assert summary.status == "completed"
        resumed = read_history(rundir.history).records
        assert [r.comparable() for r in resumed] == [r.comparable() for r in expected.records]

    def test_a_disk_already_full_refuses_to_start_with_a_clear_error(self, small_disk):
        """No room for the reserve: the run does not start, and says why."""
        config = loop_config(small_disk, iterations=8)
        runner = LoopRunner.create(config, lambda _u: _parts(), run_id="r")
        _fill(small_disk, 0)
        with pytest.raises(RunStorageError, match="set aside space"):
            runner.run()
        assert _temp_files(small_disk / "runs" / "r") == []


_SCRIPT = textwrap.dedent(
    """
    import resource, sys
    resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))
    from stratloop.cli import main
    main(sys.argv[1:])
    """
)

_CONFIG = run_config(start="2019-01-02", end="2021-12-31", iterations=120, seed=5)


@pytest.mark.slow
class TestFileSizeLimit:
    def test_the_command_line_stops_without_a_traceback_and_resumes(self, tmp_path):
        """`stratloop run` past its file-size limit: one clear error, exit 1; resume completes."""
        (tmp_path / "config.yaml").write_text(_CONFIG)
        command = run_args(tmp_path)
        env = {**os.environ, **FLAGS}
        limit = 96 * 1024
        script = _SCRIPT.format(limit=limit)
        stopped = subprocess.run(
            [sys.executable, "-c", script, *command],
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
        assert stopped.returncode == 1, stopped.stderr
        assert "Traceback" not in stopped.stderr
        assert "File too large" in stopped.stderr
        assert "ulimit -f" in stopped.stderr
        assert "resume with: stratloop run --resume" in stopped.stderr
        (run_dir,) = (tmp_path / "runs").iterdir()
        run = json.loads((run_dir / "run.json").read_text())
        assert run["status"] == "stopped (resumable)"
        assert _temp_files(run_dir) == []

        unlimited = _SCRIPT.format(limit="resource.RLIM_INFINITY")
        resumed = subprocess.run(
            [sys.executable, "-c", unlimited, *command, "--resume", run_dir.name],
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
        assert resumed.returncode == 0, resumed.stderr
        assert len(read_history(run_dir / "history.jsonl").records) == 120
