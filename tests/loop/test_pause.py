"""Issue 13: a bad flags file pauses the loop at the iteration boundary; a fixed one resumes it."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from loop_helpers import factor_graph_source, hash_evaluator, loop_config

from stratloop.flags import FLAG_VARIABLES, DotenvFlagSource
from stratloop.generation.context import GenerationContext
from stratloop.generation.strategies import FunctionSource
from stratloop.iteration import IterationRecord
from stratloop.loop.runner import LoopParts, LoopRunner
from stratloop.spec import Candidate

ALL_ON = dict.fromkeys(FLAG_VARIABLES, "true")


def _write(path: Path, values: dict[str, str]) -> None:
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()))


class _Recorder:
    """A progress sink that keeps what it is told, and fixes the file once the loop pauses."""

    def __init__(self, fix: threading.Event) -> None:
        self.events: list[str | None] = []
        self.status_while_paused: str | None = None
        self.committed_n = 0
        self._fix = fix
        self.run_json: Path | None = None

    def begin(self, total: int, done: int) -> None:
        """Nothing to do."""

    def committed(self, record: IterationRecord, best: float | None) -> None:
        """Count commits."""
        del record, best
        self.committed_n += 1

    def end(self) -> None:
        """Nothing to do."""

    def paused(self, reason: str | None) -> None:
        """Keep the reason; on the first pause, read run.json and let the test fix the file."""
        self.events.append(reason)
        if reason is not None and self.run_json is not None:
            self.status_while_paused = json.loads(self.run_json.read_text())["status"]
            self._fix.set()


class TestPauseOnBadFlags:
    def test_a_typo_pauses_then_the_fix_continues_the_same_run(self, tmp_path: Path) -> None:
        """The loop waits at the boundary (run.json says paused, with the reason), then goes on."""
        flags_file = tmp_path / "flags.env"
        _write(flags_file, ALL_ON)
        fix = threading.Event()

        def break_at_5(ctx: GenerationContext) -> Candidate:
            if ctx.iteration == 5:
                _write(flags_file, {**ALL_ON, "PHASE4_AUDIT_TRAIL": "ture"})
            return factor_graph_source().propose(ctx)

        config = loop_config(tmp_path, iterations=12)
        runner = LoopRunner.create(
            config,
            lambda _u: LoopParts(
                factor_graph=FunctionSource(break_at_5),
                evaluator=hash_evaluator,
                flags=DotenvFlagSource(flags_file, targeting_key="k"),
            ),
            run_id="paused",
        )
        progress = _Recorder(fix)
        progress.run_json = runner.rundir.run

        def fixer() -> None:
            fix.wait(60)
            _write(flags_file, ALL_ON)

        thread = threading.Thread(target=fixer)
        thread.start()
        summary = runner.run(progress)
        thread.join()
        assert summary.status == "completed"
        assert summary.iterations == 12
        assert progress.committed_n == 12
        reason, resumed = progress.events
        assert reason is not None
        assert reason.startswith("paused before iteration 6: ")
        assert "PHASE4_AUDIT_TRAIL" in reason
        assert "'ture'" in reason
        assert str(flags_file) in reason
        assert resumed is None
        assert progress.status_while_paused == "paused"
        assert json.loads(runner.rundir.run.read_text())["status"] == "completed"

    def test_a_stop_while_paused_ends_the_run_resumable(self, tmp_path: Path) -> None:
        """Ctrl-C while paused commits what was generated and stops as interrupted."""
        flags_file = tmp_path / "flags.env"
        _write(flags_file, ALL_ON)

        def break_at_2(ctx: GenerationContext) -> Candidate:
            if ctx.iteration == 2:
                flags_file.write_text("")
            return factor_graph_source().propose(ctx)

        config = loop_config(tmp_path, iterations=12)
        runner = LoopRunner.create(
            config,
            lambda _u: LoopParts(
                factor_graph=FunctionSource(break_at_2),
                evaluator=hash_evaluator,
                flags=DotenvFlagSource(flags_file, targeting_key="k"),
            ),
            run_id="stopped",
        )
        stopper = _Recorder(threading.Event())
        stopper.paused = lambda reason: runner.request_stop() if reason else None  # type: ignore[method-assign]
        summary = runner.run(stopper)
        assert summary.status == "interrupted"
        assert summary.iterations == 3
        history = (runner.rundir.history).read_text().splitlines()
        assert [json.loads(line)["iteration_num"] for line in history] == [0, 1, 2]
