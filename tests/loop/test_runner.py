import json
import os
import signal
import threading

import pytest
from loop_helpers import factor_graph_source, hash_evaluator, llm_source, loop_config

from run_helpers import AUDIT_OFF
from stratloop.audit import iter_records, verify_trail
from stratloop.errors import AuditWriteError, ExpressionTypeError, LLMUnavailableError, RunError
from stratloop.flags import DotenvFlagSource, EnvFlagSource
from stratloop.generation.strategies import FunctionSource
from stratloop.llm.budget import TokenBudget
from stratloop.loop.audit import RunAudit
from stratloop.loop.history import read_history
from stratloop.loop.rundir import RunDir
from stratloop.loop.runner import LoopParts, LoopRunner, open_run
from stratloop.spec import Candidate, Strategy, TopN

PROCEDURAL = {**AUDIT_OFF, "PHASE3_STRATEGY_PATTERN": "false"}
MASTER_OFF = {**AUDIT_OFF, "ENABLE_GENERATION_REFACTORING": "false"}
MIXED = {"use_factor_graph": None, "innovation_rate": 30}
LLM_ON = {"enabled": True, "base_url": "http://127.0.0.1:9/v1", "model": "m"}


def _parts(flags=None, **kwargs):
    defaults = {
        "factor_graph": factor_graph_source(),
        "evaluator": hash_evaluator,
        "flags": EnvFlagSource(flags or AUDIT_OFF),
    }
    return LoopParts(**{**defaults, **kwargs})


def _run(config, run_id, **kwargs):
    runner = LoopRunner.create(config, lambda _usage: _parts(**kwargs), run_id=run_id)
    summary = runner.run()
    return summary, _history(summary.path / "history.jsonl")


def _history(path):
    """The history's lines as JSON objects: what the file says, key for key."""
    return [record.as_dict() for record in read_history(path).records]


def _comparable(records, *, across=False):
    dropped = {"timestamp", "timings"} | (
        {"implementation", "strategy_selected", "flags"} if across else set()
    )
    return [{k: v for k, v in r.items() if k not in dropped} for r in records]


class TestLoopRunner:
    def test_a_run_commits_every_iteration_and_writes_its_directory(self, tmp_path):
        """A completed run leaves config, flags, history, champion, metrics and run files."""
        summary, records = _run(loop_config(tmp_path), "r1")
        assert summary.status == "completed"
        assert [r["iteration_num"] for r in records] == list(range(12))
        for name in ("config.json", "flags.jsonl", "champion.json", "metrics.json", "run.json"):
            assert (summary.path / name).is_file(), name
        run = json.loads((summary.path / "run.json").read_text())
        assert run["status"] == "completed"
        assert run["iterations"] == 12
        champion = json.loads((summary.path / "champion.json").read_text())
        assert champion == summary.champion
        assert champion["iteration"] == max(r["iteration_num"] for r in records if r["champion"])

    def test_the_champion_is_the_best_eligible_validation_score(self, tmp_path):
        """The champion has the highest validation IR among results with enough trades."""
        summary, records = _run(loop_config(tmp_path, min_trades=10), "r1")
        eligible = [r for r in records if r["validation"] and r["validation"]["n_trades"] >= 10]
        best = max(
            eligible, key=lambda r: (r["validation"]["information_ratio"], -r["iteration_num"])
        )
        assert summary.champion is not None
        assert summary.champion["iteration"] == best["iteration_num"]
        assert summary.champion["validation"] == best["validation"]
        assert summary.champion["train"] == best["train"]
        assert all("test" not in r for r in records)

    def test_results_do_not_depend_on_the_worker_count(self, tmp_path):
        """Workers 1 and 2 give identical histories, timestamps and timings aside."""
        _, one = _run(
            loop_config(tmp_path, workers=1, generation=MIXED, llm=LLM_ON), "w1", llm=llm_source()
        )
        _, two = _run(
            loop_config(tmp_path, workers=2, generation=MIXED, llm=LLM_ON), "w2", llm=llm_source()
        )
        assert _comparable(one) == _comparable(two)
        assert any(r["champion"] for r in one)

    def test_procedural_and_strategy_pattern_give_the_same_history(self, tmp_path):
        """Phase 3 on or off: same decisions, candidates, metrics and champions."""
        config = loop_config(tmp_path, generation=MIXED, llm=LLM_ON)
        _, pattern = _run(config, "p3", flags=AUDIT_OFF, llm=llm_source())
        _, procedural = _run(config, "p2", flags=PROCEDURAL, llm=llm_source())
        assert {r["implementation"] for r in pattern} == {"strategy_pattern"}
        assert {r["implementation"] for r in procedural} == {"procedural"}
        assert _comparable(pattern, across=True) == _comparable(procedural, across=True)

    @pytest.mark.parametrize(
        ("use_factor_graph", "method"), [(True, "factor_graph"), (False, "llm")]
    )
    def test_an_explicit_use_factor_graph_is_obeyed_every_iteration(
        self, tmp_path, use_factor_graph, method
    ):
        """use_factor_graph true/false: 100% of iterations use the mandated method."""
        generation = {"use_factor_graph": use_factor_graph, "innovation_rate": 50}
        config = loop_config(tmp_path, iterations=20, generation=generation, llm=LLM_ON)
        summary, records = _run(config, "m", llm=llm_source())
        assert {r["method_used"] for r in records} == {method}
        assert summary.metrics["priority_adherence"] == 1.0

    def test_phase1_has_no_silent_fallback_when_the_llm_fails(self, tmp_path):
        """With enforcement on, a failing LLM fails the iteration; nothing falls back silently."""

        def refuse(ctx):
            raise LLMUnavailableError("endpoint down")

        config = loop_config(tmp_path, iterations=20, generation=MIXED, llm=LLM_ON)
        summary, records = _run(config, "f", llm=FunctionSource(refuse))
        failed = [r for r in records if r["status"] == "generation_failed"]
        assert failed
        assert all(r["error"]["type"] == "LLMUnavailableError" for r in failed)
        assert summary.metrics["silent_fallbacks"] == 0

    def test_master_off_counts_the_legacy_silent_fallbacks(self, tmp_path):
        """Phase 0 with a failing LLM falls back silently, and the counters show it."""

        def refuse(ctx):
            raise LLMUnavailableError("endpoint down")

        config = loop_config(tmp_path, iterations=20, generation=MIXED, llm=LLM_ON)
        summary, records = _run(config, "l", flags=MASTER_OFF, llm=FunctionSource(refuse))
        silent = [r for r in records if r["fallback"] and r["fallback"]["kind"] == "silent"]
        assert silent
        assert summary.metrics["silent_fallbacks"] == len(silent)
        assert {r["implementation"] for r in records} == {"legacy"}

    def test_a_stuck_evaluation_times_out_and_the_loop_goes_on(self, tmp_path):
        """A candidate whose backtest hangs is recorded as a timeout; the run completes."""

        def stuck_once(ctx):
            if ctx.iteration == 1:
                return Candidate(
                    Strategy(expression="sleep(close)", portfolio=TopN(n=2)), "factor_graph"
                )
            return factor_graph_source().propose(ctx)

        config = loop_config(tmp_path, iterations=6, eval_timeout_s=0.5)
        summary, records = _run(config, "t", factor_graph=FunctionSource(stuck_once))
        assert summary.status == "completed"
        assert records[1]["status"] == "evaluation_timeout"
        assert records[1]["error"]["type"] == "EvaluationTimeoutError"
        assert summary.metrics["evaluation_timeouts"] == 1
        assert summary.metrics["worker_restarts"] == 1

    def test_a_validation_error_is_recorded_and_not_backtested(self, tmp_path):
        """A candidate the validator rejects is recorded with its error and never evaluated."""

        def validate(candidate):
            if "40" in candidate.strategy.expression:
                raise ExpressionTypeError("window 40 not allowed")

        summary, records = _run(loop_config(tmp_path, iterations=20), "v", validate=validate)
        rejected = [r for r in records if r["status"] == "validation_failed"]
        assert rejected
        assert all(r["train"] is None and r["error"]["stage"] == "validation" for r in rejected)
        assert summary.metrics["validation_errors"] == len(rejected)


class TestResume:
    def test_resume_after_a_torn_write_equals_an_uninterrupted_run(self, tmp_path):
        """Cut mid-batch with a torn last line, resumed: the same history as one run."""
        config = loop_config(tmp_path, iterations=14, generation=MIXED, llm=LLM_ON)
        _, expected = _run(config, "full", llm=llm_source())
        cut, _ = _run(
            config.model_copy(update={"loop": config.loop.model_copy(update={"iterations": 14})}),
            "cut",
            llm=llm_source(),
        )
        history = cut.path / "history.jsonl"
        lines = history.read_bytes().split(b"\n")
        history.write_bytes(b"\n".join(lines[:6]) + b"\n" + lines[6][:25])
        rundir, stored = open_run(tmp_path / "runs", "cut")
        runner = LoopRunner.resume(rundir, stored, lambda _u: _parts(llm=llm_source()))
        assert "torn last line" in runner.notes[0]
        assert runner.state.next_iteration == 6
        summary = runner.run()
        resumed = _history(summary.path / "history.jsonl")
        assert summary.status == "completed"
        assert _comparable(resumed) == _comparable(expected)
        assert (summary.path / "history.jsonl.torn-").parent.exists()

    def test_a_locked_run_cannot_be_resumed_twice(self, tmp_path):
        """While one process holds a run, another resume is a RunError."""
        config = loop_config(tmp_path, iterations=4)
        _run(config, "x")
        rundir, stored = open_run(tmp_path / "runs", "x")
        first = LoopRunner.resume(rundir, stored, lambda _u: _parts())
        with pytest.raises(RunError, match="another process"):
            LoopRunner.resume(RunDir(rundir.root), stored, lambda _u: _parts())
        first.run()

    def test_resuming_an_unknown_run_names_it(self, tmp_path):
        """An unknown run id is a RunError naming the id and the runs directory."""
        with pytest.raises(RunError, match="no run 'nope'"):
            open_run(tmp_path / "runs", "nope")


class TestStopping:
    def test_sigint_stops_after_committing_the_batch(self, tmp_path):
        """Ctrl-C mid-run commits the current batch, marks the run interrupted."""
        config = loop_config(tmp_path, iterations=400, batch_size=4)

        def interrupt_at_5(ctx):
            if ctx.iteration == 5:
                os.kill(os.getpid(), signal.SIGINT)
            return factor_graph_source().propose(ctx)

        runner = LoopRunner.create(
            config, lambda _u: _parts(factor_graph=FunctionSource(interrupt_at_5)), run_id="s"
        )
        assert threading.current_thread() is threading.main_thread()
        summary = runner.run()
        assert summary.status == "interrupted"
        assert summary.iterations == 8
        assert len(_history(summary.path / "history.jsonl")) == 8

    def test_a_spent_budget_stops_the_run_with_a_clear_message(self, tmp_path):
        """on_budget_exhausted: stop ends the run once the tokens are spent."""
        summary = _spend_budget(tmp_path, 40, {})
        assert summary.status == "budget_exhausted"
        assert "llm.max_tokens_per_run=100" in summary.message
        assert summary.iterations == 4
        assert summary.metrics["llm_tokens"] == 120

    def test_a_spent_budget_goes_on_factor_graph_only_when_configured(self, tmp_path):
        """on_budget_exhausted: factor_graph_only continues, recorded in every later record."""
        summary = _spend_budget(tmp_path, 12, {"on_budget_exhausted": "factor_graph_only"})
        records = _history(summary.path / "history.jsonl")
        assert summary.status == "completed"
        assert [r["method_used"] for r in records[:4]] == ["llm"] * 4
        later = records[4:]
        assert all(r["budget_mode"] == "factor_graph_only" for r in later)
        assert all(r["method_used"] == "factor_graph" for r in later)
        assert all(r["decision"]["rule"] == "explicit_factor_graph" for r in later)
        assert summary.metrics["priority_adherence"] == 1.0


def _spend_budget(tmp_path, iterations, llm):
    """Run LLM-only iterations that spend 30 tokens each of a 100-token budget."""
    config = loop_config(
        tmp_path,
        iterations=iterations,
        generation={"use_factor_graph": False, "innovation_rate": 0},
        llm={**LLM_ON, "max_tokens_per_run": 100, **llm},
    )
    budget = TokenBudget.from_config(config.llm)

    def spend(ctx):
        budget.record(20, 10)
        return llm_source().propose(ctx)

    return LoopRunner.create(
        config, lambda _u: _parts(llm=FunctionSource(spend), budget=budget), run_id="b"
    ).run()


class TestFlagsAtIterationBoundaries:
    def test_a_flags_file_change_takes_effect_mid_run_and_is_recorded(self, tmp_path):
        """Rolling Phase 3 back in the flags file switches the implementation without a restart."""
        flags_file = tmp_path / "flags.env"
        flags_file.write_text("".join(f"{k}={v}\n" for k, v in AUDIT_OFF.items()))

        def rollback_at_6(ctx):
            if ctx.iteration == 6:
                text = flags_file.read_text().replace(
                    "PHASE3_STRATEGY_PATTERN=true", "PHASE3_STRATEGY_PATTERN=false"
                )
                flags_file.write_text(text + "# rolled back\n")
            return factor_graph_source().propose(ctx)

        config = loop_config(tmp_path, iterations=12)
        runner = LoopRunner.create(
            config,
            lambda _u: LoopParts(
                factor_graph=FunctionSource(rollback_at_6),
                evaluator=hash_evaluator,
                flags=DotenvFlagSource(flags_file),
            ),
            run_id="flags",
        )
        summary = runner.run()
        records = _history(summary.path / "history.jsonl")
        assert [r["implementation"] for r in records] == ["strategy_pattern"] * 7 + [
            "procedural"
        ] * 5
        changes = (summary.path / "flags.jsonl").read_text().splitlines()
        assert [json.loads(line)["iteration_num"] for line in changes] == [0, 7]


class TestLLMShare:
    def test_llm_share_is_within_the_binomial_interval_over_2000_iterations(self, tmp_path):
        """use_factor_graph null, innovation_rate 30: the LLM share is within 99.9% of 0.30."""
        generation = {"use_factor_graph": None, "innovation_rate": 30}
        config = loop_config(
            tmp_path, iterations=2000, batch_size=250, generation=generation, llm=LLM_ON
        )
        summary, records = _run(config, "share", llm=llm_source())
        n = len(records)
        share = sum(r["decision"]["method"] == "llm" for r in records) / n
        half = 3.2905 * (0.3 * 0.7 / n) ** 0.5
        assert n == 2000
        assert abs(share - 0.3) <= half
        low, high = summary.metrics["llm_share_interval"]
        assert low <= summary.metrics["draw_llm_share"] <= high


class _FailingAudit:
    """Writes through to a real trail, then fails like a full disk at the n-th record."""

    def __init__(self, inner, fail_at):
        self.inner = inner
        self.fail_at = fail_at
        self.writes = 0

    def write(self, record):
        if self.writes == self.fail_at:
            raise AuditWriteError("disk full")
        self.writes += 1
        self.inner.write(record)

    def backfill(self, records):
        return self.inner.backfill(records)

    @property
    def recovery_messages(self):
        return self.inner.recovery_messages

    def close(self):
        self.inner.close()


class TestAuditOnResume:
    def test_a_committed_iteration_missing_from_the_audit_trail_is_backfilled(self, tmp_path):
        """History is committed before the audit record; resume writes the missing record once."""
        config = loop_config(tmp_path, iterations=8)
        audit_path = tmp_path / "audit.jsonl"

        def audit():
            return RunAudit(config, run_id="a", instance_id="test", path=audit_path)

        on = {**AUDIT_OFF, "PHASE4_AUDIT_TRAIL": "true"}
        runner = LoopRunner.create(
            config, lambda _u: _parts(flags=on, audit=_FailingAudit(audit(), 5)), run_id="a"
        )
        with pytest.raises(AuditWriteError, match="disk full"):
            runner.run()
        rundir, stored = open_run(tmp_path / "runs", "a")
        assert json.loads(rundir.run.read_text())["status"] == "failed"
        assert len(read_history(rundir.history).records) == 6
        resumed = LoopRunner.resume(rundir, stored, lambda _u: _parts(flags=on, audit=audit()))
        assert "1 committed iteration(s) had no audit record" in resumed.notes[0]
        assert resumed.run().status == "completed"
        iterations = [r["iteration_num"] for _f, _l, r in iter_records(audit_path)]
        assert iterations == list(range(8))
        assert not verify_trail(audit_path).breaks


class TestBudgetOnResume:
    def test_the_spent_budget_is_restored_on_resume(self, tmp_path):
        """A run stopped by its budget stays stopped when resumed: the usage is replayed."""
        llm = {**LLM_ON, "max_tokens_per_run": 100}
        generation = {"use_factor_graph": False, "innovation_rate": 0}
        config = loop_config(tmp_path, iterations=40, generation=generation, llm=llm)

        def parts(spent):
            budget = TokenBudget.from_config(config.llm, spent=spent)

            def spend(ctx):
                budget.record(20, 10)
                return llm_source().propose(ctx)

            return _parts(llm=FunctionSource(spend), budget=budget)

        first = LoopRunner.create(config, parts, run_id="b").run()
        assert first.status == "budget_exhausted"
        rundir, stored = open_run(tmp_path / "runs", "b")
        again = LoopRunner.resume(rundir, stored, parts).run()
        assert again.status == "budget_exhausted"
        assert again.iterations == first.iterations
