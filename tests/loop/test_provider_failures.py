"""After loop.max_consecutive_failures LLM provider failures the run stops or pauses."""

import json

from loop_helpers import factor_graph_source, hash_evaluator, llm_source, loop_config

from run_helpers import AUDIT_OFF as FLAGS
from stratloop.errors import LLMEmptyResponseError, LLMGenerationError, LLMUnavailableError
from stratloop.flags import EnvFlagSource
from stratloop.generation.strategies import FunctionSource
from stratloop.loop.history import read_history
from stratloop.loop.rundir import RunDir
from stratloop.loop.runner import LoopParts, LoopRunner, open_run

LLM_ONLY = {"use_factor_graph": False, "innovation_rate": 100}
LLM_ON = {"enabled": True, "base_url": "http://127.0.0.1:9/v1", "model": "m"}


def _parts(llm):
    return LoopParts(
        factor_graph=factor_graph_source(),
        evaluator=hash_evaluator,
        flags=EnvFlagSource(FLAGS),
        llm=llm,
    )


def _down(error=LLMUnavailableError):
    def refuse(ctx):
        raise error("connection refused by 127.0.0.1:9")

    return FunctionSource(refuse)


def _config(tmp_path, generation=LLM_ONLY, **loop):
    return loop_config(tmp_path, generation=generation, llm=LLM_ON, **loop)


class TestStop:
    def test_the_run_stops_resumable_at_the_limit_with_the_reason(self, tmp_path):
        """Three failures in a row with the limit at 3: stopped (resumable), the reason recorded."""
        config = _config(tmp_path, iterations=12, max_consecutive_failures=3)
        summary = LoopRunner.create(config, lambda _u: _parts(_down()), run_id="r").run()
        assert summary.status == "stopped (resumable)"
        assert summary.iterations == 3
        assert "3 consecutive LLM provider failures" in summary.message
        assert "LLMUnavailableError: connection refused" in summary.message
        assert "stratloop run --resume r" in summary.message
        run = json.loads(RunDir(tmp_path / "runs" / "r").run.read_text())
        assert run["status"] == "stopped (resumable)"
        assert run["message"] == summary.message
        assert run["iterations"] == 3

    def test_a_resumed_run_gets_the_full_allowance_and_completes_once_the_provider_answers(
        self, tmp_path
    ):
        """Stopped, resumed with the provider still down: 3 more; resumed with it up: completes."""
        config = _config(tmp_path, iterations=12, max_consecutive_failures=3)
        LoopRunner.create(config, lambda _u: _parts(_down()), run_id="r").run()
        rundir, stored = open_run(tmp_path / "runs", "r")
        again = LoopRunner.resume(rundir, stored, lambda _u: _parts(_down())).run()
        assert (again.status, again.iterations) == ("stopped (resumable)", 6)
        rundir, stored = open_run(tmp_path / "runs", "r")
        done = LoopRunner.resume(rundir, stored, lambda _u: _parts(llm_source())).run()
        assert (done.status, done.iterations) == ("completed", 12)
        records = read_history(rundir.history).records
        assert [r.status for r in records[:6]] == ["generation_failed"] * 6

    def test_factor_graph_iterations_neither_count_nor_reset(self, tmp_path):
        """With a mixed rule, only the iterations that asked the LLM count toward the limit."""
        mixed = {"use_factor_graph": None, "innovation_rate": 50}
        config = _config(tmp_path, generation=mixed, iterations=40, max_consecutive_failures=4)
        summary = LoopRunner.create(config, lambda _u: _parts(_down()), run_id="r").run()
        records = read_history(RunDir(tmp_path / "runs" / "r").history).records
        asked = [r for r in records if r.outcome.decision.method == "llm"]
        assert summary.status == "stopped (resumable)"
        assert len(asked) == 4
        assert len(records) > 4

    def test_an_answer_resets_the_count(self, tmp_path):
        """Failures separated by a good reply never reach the limit."""

        def flaky(ctx):
            if ctx.iteration % 3 == 2:
                return llm_source().propose(ctx)
            raise LLMEmptyResponseError("empty reply")

        config = _config(tmp_path, iterations=12, max_consecutive_failures=3)
        summary = LoopRunner.create(
            config, lambda _u: _parts(FunctionSource(flaky)), run_id="r"
        ).run()
        assert summary.status == "completed"

    def test_unusable_replies_are_not_provider_failures(self, tmp_path):
        """The provider answered; a reply without a valid strategy is the model's, not a stop."""
        config = _config(tmp_path, iterations=8, max_consecutive_failures=2)
        summary = LoopRunner.create(
            config, lambda _u: _parts(_down(LLMGenerationError)), run_id="r"
        ).run()
        assert summary.status == "completed"

    def test_zero_never_stops(self, tmp_path):
        """loop.max_consecutive_failures: 0 turns the stop off."""
        config = _config(tmp_path, iterations=8, max_consecutive_failures=0)
        summary = LoopRunner.create(config, lambda _u: _parts(_down()), run_id="r").run()
        assert (summary.status, summary.iterations) == ("completed", 8)

    def test_fallbacks_count_too(self, tmp_path):
        """With fallback_to_factor_graph the iteration succeeds, but the provider still failed."""
        generation = {**LLM_ONLY, "on_llm_failure": "fallback_to_factor_graph"}
        config = _config(tmp_path, generation=generation, iterations=12, max_consecutive_failures=5)
        summary = LoopRunner.create(config, lambda _u: _parts(_down()), run_id="r").run()
        assert (summary.status, summary.iterations) == ("stopped (resumable)", 5)


class TestPause:
    def test_the_loop_pauses_says_so_and_goes_on(self, tmp_path):
        """Pause: the loop waits failure_pause_s, says so in run.json, then goes on."""
        seen = []

        def recovering(ctx):
            if ctx.iteration < 2:
                raise LLMUnavailableError("down")
            if ctx.iteration == 2:
                seen.append(json.loads(RunDir(tmp_path / "runs" / "r").run.read_text()))
            return llm_source().propose(ctx)

        config = _config(
            tmp_path,
            iterations=8,
            max_consecutive_failures=2,
            on_consecutive_failures="pause",
            failure_pause_s=0.05,
        )
        summary = LoopRunner.create(
            config, lambda _u: _parts(FunctionSource(recovering)), run_id="r"
        ).run()
        assert (summary.status, summary.iterations) == ("completed", 8)
        assert seen[0]["status"] == "running"
        assert seen[0]["message"].startswith("resumed after a pause: 2 consecutive LLM provider")
        assert "paused for 0.05 s" in seen[0]["message"]
