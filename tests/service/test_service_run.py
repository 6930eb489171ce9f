"""The loop service over a real run: pausing on a bad flags file, and resuming a run (issue 13)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from service_helpers import served_environment, wait_for, write_flags

from run_helpers import ALL_ON
from stratloop.environments import load_environment
from stratloop.errors import RunError
from stratloop.flags import DotenvFlagSource
from stratloop.loop import iter_history
from stratloop.service import LoopService, Monitor

pytestmark = pytest.mark.slow


def _service(root: Path, flags: DotenvFlagSource, **kwargs: object) -> LoopService:
    env = load_environment("t", root=root)
    config = env.load_config(flags=flags.current(), overrides={"loop.iterations": 6})
    return LoopService(config, flags, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return served_environment(tmp_path, monkeypatch, iterations=6)


class TestPause:
    def test_bad_flags_pause_the_service_then_it_completes(self, root: Path) -> None:
        """/health is degraded and names the flag while paused; the fixed file lets the run end."""
        flags = DotenvFlagSource(root / "flags.env", targeting_key="k")
        service = _service(root, flags)
        monitor = Monitor(service)
        write_flags(root / "flags.env", {**ALL_ON, "PHASE3_STRATEGY_PATTERN": ""})
        service.start()
        try:
            state = wait_for(
                lambda: (s := service.state()).status == "paused" and s, 60, "the pause"
            )
            snapshot = monitor.snapshot()
            run = json.loads((service.runs_dir / service.run_id / "run.json").read_text())
            write_flags(root / "flags.env", ALL_ON)
            wait_for(lambda: service.state().status == "completed", 60, "the run to complete")
        finally:
            service.stop(60)
        assert state.iteration == 0
        assert state.paused is not None
        assert "PHASE3_STRATEGY_PATTERN is empty" in state.paused
        assert snapshot.status == "degraded"
        flags_check = next(c for c in snapshot.checks if c.name == "flags")
        assert not flags_check.passed
        assert "until the flags read cleanly again" in flags_check.detail
        pause_check = next(c for c in snapshot.checks if c.name == "pause")
        assert not pause_check.passed
        assert pause_check.detail == state.paused
        assert run["status"] == "paused"
        assert "PHASE3_STRATEGY_PATTERN is empty" in run["message"]
        assert service.state().iteration == 6
        final = monitor.snapshot()
        failing = [c.detail for c in final.checks if not c.passed]
        alerts = [f.as_dict() for f in final.figures if f.verdict == "alert"]
        assert final.status == "healthy", (failing, alerts)


class TestResume:
    def test_resume_latest_continues_the_run(self, root: Path) -> None:
        """Serve --resume latest: the same run id, the earlier iterations counted, then more."""
        flags = DotenvFlagSource(root / "flags.env", targeting_key="k")
        first = _service(root, flags)
        first.start()
        wait_for(lambda: first.state().status == "completed", 60, "the first run")
        first.stop(60)
        again = _service(root, flags, resume="latest", iterations=10)
        assert again.run_id == first.run_id
        again.start()
        try:
            wait_for(lambda: again.state().status == "completed", 60, "the resumed run")
        finally:
            again.stop(60)
        state = again.state()
        body = Monitor(again).snapshot()
        assert body.state.notes == ()
        assert state.resumed_from == 6
        assert state.iteration == 10
        records = list(iter_history(again.runs_dir / again.run_id / "history.jsonl"))
        assert [r.iteration_num for r in records] == list(range(10))

    def test_resume_of_nothing_says_what_to_do(self, root: Path) -> None:
        """--resume latest with no run, or an unknown id, is an error before anything starts."""
        flags = DotenvFlagSource(root / "flags.env", targeting_key="k")
        with pytest.raises(RunError, match=r"no run in .* to resume"):
            _service(root, flags, resume="latest")
        with pytest.raises(RunError, match="nope"):
            _service(root, flags, resume="nope")
