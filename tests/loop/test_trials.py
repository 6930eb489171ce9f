"""No trial twice: repeats go back to their generator, near-duplicates are not new trials."""

from __future__ import annotations

import datetime
import itertools
import json
import os
import signal

import pytest
from loop_helpers import hash_evaluator, loop_config

from stratloop import factors
from stratloop.acceptance.llm_server import Reply, ScriptedOpenAIServer
from stratloop.audit import audit_record
from stratloop.backtest import Study
from stratloop.config.models import StratloopConfig
from stratloop.factors.canonical import trial_key
from stratloop.factors.fingerprint import FingerprintBank, Screen
from stratloop.flags import EnvFlagSource, Flags
from stratloop.generation.decision import decide
from stratloop.generation.outcome import GenerationOutcome, Repeat
from stratloop.generation.strategies import FunctionSource
from stratloop.iteration import IterationRecord, Redundancy
from stratloop.loop.assemble import build_parts
from stratloop.loop.evaluation import backtest_evaluator, load_run_panel
from stratloop.loop.history import read_history
from stratloop.loop.record import Generated
from stratloop.loop.runner import LoopParts, LoopRunner, open_run
from stratloop.loop.trials import SENT_STATUSES, TrialLedger, rule_key
from stratloop.loop.workers import EvalResult, EvalTask, run_task
from stratloop.spec import Candidate, Lineage, Strategy, TopN

NO_AUDIT = {"PHASE4_AUDIT_TRAIL": "false"}
_DISTINCT = [f"rank(ts_mean(returns, {w})) - rank(ts_std(returns, {w + 40}))" for w in range(2, 60)]


def _sent_keys(records):
    """Trial keys of every candidate the run sent to evaluation, in order."""
    return [trial_key(r.candidate.strategy) for r in records if r.status in SENT_STATUSES]


def _stubborn(ctx):
    """Proposes its previous iteration's strategy first (respelt), a new one once told."""
    index = max(0, ctx.iteration - 1 + len(ctx.repeats))
    terms = _DISTINCT[index % len(_DISTINCT)].split(" - ")
    expression = f"-{terms[1]} + ({terms[0]})" if index % 2 else _DISTINCT[index % len(_DISTINCT)]
    strategy = Strategy(expression=expression, portfolio=TopN(n=5))
    return Candidate(strategy, "factor_graph", Lineage(operator="test"))


def _real_config(tmp_path, **loop) -> StratloopConfig:
    """The real loop on the embedded data from 2016.

    Repeats and near-duplicates are about the candidates, not the panel, and the
    shorter panel makes each backtest about five times cheaper (all of the data
    at 2,000 iterations: ``test_scenarios_full.py``).
    """
    generation = loop.pop("generation", {"use_factor_graph": True, "innovation_rate": 0})
    llm = loop.pop("llm", {})
    return StratloopConfig.model_validate(
        {
            "version": 1,
            "generation": generation,
            "llm": llm,
            "data": {"source": "sp500-20", "start_date": datetime.date(2016, 1, 1)},
            "loop": {"runs_dir": str(tmp_path / "runs"), "batch_size": 8, **loop},
            "audit": {"path": str(tmp_path / "audit" / "trail.jsonl")},
        }
    )


def _real_parts(config, environ=None):
    def make(spent):
        return build_parts(
            config,
            flags=EnvFlagSource(NO_AUDIT),
            run_id="r",
            instance_id="test",
            spent=spent,
            environ=environ or {},
        )

    return make


class TestRepeats:
    """A repeat is never evaluated."""

    def test_a_repeat_goes_back_to_its_generator_and_is_recorded(self, tmp_path):
        """The generator sees its repeat, proposes another; the record lists the rejected one."""
        config = loop_config(tmp_path, iterations=12)
        parts = LoopParts(
            factor_graph=FunctionSource(_stubborn),
            evaluator=hash_evaluator,
            flags=EnvFlagSource(NO_AUDIT),
        )
        summary = LoopRunner.create(config, lambda _u: parts, run_id="t").run()
        records = read_history(summary.path / "history.jsonl").records
        keys = _sent_keys(records)
        assert len(keys) == len(set(keys)) == 12
        repeated = [r for r in records if r.outcome.repeats]
        assert repeated
        first = repeated[0].outcome.repeats[0]
        assert trial_key(first.candidate.strategy) == trial_key(
            records[first.of_iteration].candidate.strategy
        )
        assert summary.metrics["repeats_rejected"] == sum(len(r.outcome.repeats) for r in records)
        assert summary.metrics["distinct_trials"] == 12

    def test_a_generator_that_only_repeats_is_exhausted_within_the_bound(self, tmp_path):
        """Every answer a repeat: asked 1 + repeat_attempts times, then exhausted."""
        config = loop_config(tmp_path, iterations=4, batch_size=1)
        config = config.model_copy(
            update={"search": config.search.model_copy(update={"repeat_attempts": 2})}
        )
        asked = []

        def same(ctx):
            asked.append(ctx.iteration)
            strategy = Strategy(expression="rank(returns)", portfolio=TopN(n=5))
            return Candidate(strategy, "factor_graph", Lineage(operator="test"))

        parts = LoopParts(
            factor_graph=FunctionSource(same), evaluator=hash_evaluator, flags=EnvFlagSource({})
        )
        summary = LoopRunner.create(config, lambda _u: parts, run_id="x").run()
        records = read_history(summary.path / "history.jsonl").records
        assert [r.status for r in records] == ["evaluated", "exhausted", "exhausted", "exhausted"]
        assert asked == [0, 1, 1, 1, 2, 2, 2, 3, 3, 3]
        exhausted = records[1]
        assert exhausted.error is not None
        assert exhausted.error.type == "RepeatedCandidateError"
        assert "search.repeat_attempts=2" in exhausted.error.message
        assert [r.of_iteration for r in exhausted.outcome.repeats] == [0, 0, 0]
        assert summary.metrics["exhausted"] == 3
        assert summary.metrics["failures"] == 0
        assert summary.metrics["distinct_trials"] == 1

    def test_resume_keeps_the_set_of_tried_candidates(self, tmp_path):
        """Interrupted and resumed, the run rejects what it tried before: the same history."""
        config = loop_config(tmp_path, iterations=16, batch_size=4)
        parts = LoopParts(
            factor_graph=FunctionSource(_stubborn),
            evaluator=hash_evaluator,
            flags=EnvFlagSource(NO_AUDIT),
        )
        full = LoopRunner.create(config, lambda _u: parts, run_id="full").run()

        def interrupt_at_6(ctx):
            if ctx.iteration == 6 and not ctx.repeats:
                os.kill(os.getpid(), signal.SIGINT)
            return _stubborn(ctx)

        stopping = LoopParts(
            factor_graph=FunctionSource(interrupt_at_6),
            evaluator=hash_evaluator,
            flags=EnvFlagSource(NO_AUDIT),
        )
        cut = LoopRunner.create(config, lambda _u: stopping, run_id="cut").run()
        assert cut.status == "interrupted"
        rundir, stored = open_run(tmp_path / "runs", "cut")
        resumed = LoopRunner.resume(rundir, stored, lambda _u: parts).run()
        expected = read_history(full.path / "history.jsonl").records
        got = read_history(resumed.path / "history.jsonl").records
        assert [r.comparable() for r in got] == [r.comparable() for r in expected]
        keys = _sent_keys(got)
        assert len(keys) == len(set(keys))
        assert sum(len(r.outcome.repeats) for r in got) > 0


class TestScriptedLLM:
    """An LLM that repeats itself is told so, and no repeat is evaluated."""

    def test_a_100_iteration_llm_run_evaluates_no_repeat(self, tmp_path):
        """Every second reply repeats the previous one respelt: told, asked again, never run."""
        specs = [
            {"expression": f"rank(ts_mean(returns, {w}))", "portfolio": {"kind": "top_n", "n": 5}}
            for w in range(2, 102)
        ]

        def respelt(spec):
            window = spec["expression"].split(", ")[1].rstrip(")")
            return {**spec, "expression": f"(rank( 0 + ts_mean(returns,{window}.0) ))"}

        script = [Reply(json.dumps(specs[0]))]
        for previous, new in itertools.pairwise(specs):
            script += [Reply(json.dumps(respelt(previous))), Reply(json.dumps(new))]
        with ScriptedOpenAIServer(script) as server:
            config = _real_config(
                tmp_path,
                iterations=100,
                generation={"use_factor_graph": False, "innovation_rate": 100},
                llm={"enabled": True, "base_url": server.base_url, "model": "scripted-model",
                     "timeout_s": 10.0},
            )
            summary = LoopRunner.create(config, _real_parts(config), run_id="llm").run()
            requests = server.completion_requests
        records = read_history(summary.path / "history.jsonl").records
        assert summary.status == "completed"
        keys = _sent_keys(records)
        assert len(keys) == len(set(keys)) == 100
        assert summary.metrics["repeats_rejected"] == 99
        assert len(requests) == 199
        told = requests[2].messages
        assert told[-1]["role"] == "user"
        assert "repeats the one already tried in iteration 0" in told[-1]["content"]
        assert '"expression": "rank(0 + ts_mean(returns, 2))"' in told[-2]["content"]
        assert all(r.status in {"evaluated", "redundant"} for r in records)
        redundant = [r for r in records if r.status == "redundant"]
        assert redundant
        assert summary.metrics["redundant"] == len(redundant)
        assert any(
            "redundant: its signal correlates" in r.messages[1]["content"] for r in requests
        )
        for record in redundant:
            assert record.redundancy is not None
            assert record.redundancy.correlation > 0.9
            assert records[record.redundancy.of_iteration].status == "evaluated"
            assert record.train is None


@pytest.mark.slow
class TestLongRun:
    """The issue's measure: a long factor-graph run evaluates no candidate twice."""

    @pytest.mark.timeout(900)
    def test_a_2000_iteration_factor_graph_run_evaluates_no_exact_repeat(self, tmp_path):
        """2,000 iterations on the embedded data: every evaluated candidate is a distinct trial."""
        config = _real_config(tmp_path, iterations=2000, batch_size=8)
        summary = LoopRunner.create(config, _real_parts(config), run_id="long").run()
        records = read_history(summary.path / "history.jsonl").records
        keys = _sent_keys(records)
        assert len(records) == 2000
        assert len(keys) == len(set(keys))
        assert summary.metrics["distinct_trials"] == len(keys)
        assert summary.metrics["repeats_rejected"] > 0
        assert summary.metrics["redundant"] == sum(r.status == "redundant" for r in records)
        for record in records:
            if record.status == "redundant":
                assert record.redundancy is not None
                assert records[record.redundancy.of_iteration].status == "evaluated"


class TestRecords:
    """Exhausted and redundant iterations read back as written, and say why in the audit."""

    def _records(self):
        flags = Flags(source="test").as_dict()
        tried = Candidate(
            Strategy(expression="rank(returns)", portfolio=TopN(n=5)),
            "factor_graph",
            Lineage(operator="sample", params={"window": 3}),
        )
        repeat = Repeat(tried, 0)
        exhausted = GenerationOutcome(
            "procedural", decide(True, 0.0, 0.3), "procedural", None, None, None,
            "RepeatedCandidateError", "all 2 candidates proposed repeat ones already tried",
            (repeat, repeat),
        )
        made = GenerationOutcome(
            "procedural", decide(True, 0.0, 0.3), "procedural", "factor_graph",
            Candidate(Strategy(expression="rank(returns) * 2", portfolio=TopN(n=5)),
                      "factor_graph"),
            repeats=(repeat,),
        )
        metrics = {"sharpe": 1.0, "n_trades": 40}
        ok = EvalResult(5, metrics, metrics, 0.01, fingerprint="AAEC")
        return (
            Generated(4, 1, "", flags, True, exhausted).record(None),
            Generated(5, 1, "", flags, True, made).record(ok, Redundancy(0, 0.97, 0.9)),
        )

    def test_history_lines_round_trip(self):
        """Statuses, repeats and redundancy survive the history line unchanged."""
        exhausted, redundant = self._records()
        assert exhausted.status == "exhausted"
        assert redundant.status == "redundant"
        assert redundant.train is None
        assert redundant.fingerprint is None
        for record in (exhausted, redundant):
            assert IterationRecord.from_json(record.to_json()) == record

    def test_the_audit_outcome_says_why(self):
        """The audit record of each names its reason."""
        exhausted, redundant = self._records()
        audited = [
            audit_record(r, run_id="r", instance_id="i", config_snapshot={}, config_hash="h")
            for r in (exhausted, redundant)
        ]
        assert audited[0].outcome["error_type"] == "RepeatedCandidateError"
        assert audited[1].outcome["error_type"] == "RedundantCandidate"
        assert "iteration 0" in audited[1].outcome["error_message"]
        assert "0.97" in audited[1].outcome["error_message"]


def _comparable(records):
    """History lines without what differs between two runs of one seed (times, timings)."""
    return [record.comparable() for record in records]


class TestScreen:
    """A near-duplicate is recognised from its signal before its backtests run."""

    def test_a_screened_signal_is_not_backtested(self, tmp_path):
        """The worker fingerprints first: a near-duplicate returns without metrics, others run."""
        config = _real_config(tmp_path)
        evaluator = backtest_evaluator(config)
        first = Strategy(expression="rank(ts_mean(returns, 20))", portfolio=TopN(n=5))
        near = Strategy(expression="rank(ts_mean(returns, 21))", portfolio=TopN(n=5))
        other = Strategy(expression="rank(-ts_std(returns, 60))", portfolio=TopN(n=5))
        bank = FingerprintBank()
        bank.add(0, rule_key(first), run_task(evaluator, EvalTask(0, first, 1)).fingerprint)
        screen = bank.screen(rule_key(near), 0.9)
        assert screen is not None

        screened = run_task(evaluator, EvalTask(1, near, 2, screen=screen))
        assert screened.screened
        assert screened.ok
        assert (screened.train, screened.validation, screened.folds) == (None, None, ())
        assert screened.fingerprint == evaluator.fingerprint(near)
        similar = bank.most_similar(rule_key(near), screened.fingerprint)
        assert similar is not None
        assert similar.correlation > 0.9

        new = run_task(evaluator, EvalTask(2, other, 2, screen=screen))
        assert not new.screened
        assert new.train is not None


    def test_a_signal_is_evaluated_once_per_task(self, tmp_path, monkeypatch):
        """The screen's fingerprint, the backtests and the record's fingerprint share one signal.

        The cache may not hold it (an infix top node is never cached), so a
        second request would evaluate the expression again.
        """
        calls: list[str] = []
        real = factors.evaluate

        def counting(expression, panel, **kwargs):
            calls.append(expression)
            return real(expression, panel, **kwargs)

        monkeypatch.setattr(factors, "evaluate", counting)
        config = _real_config(tmp_path)
        evaluator = backtest_evaluator(config)
        first = Strategy(expression="rank(ts_mean(returns, 20)) - 0.5", portfolio=TopN(n=5))
        other = Strategy(expression="rank(-ts_std(returns, 60)) + 1", portfolio=TopN(n=5))
        bank = FingerprintBank()
        alone = run_task(evaluator, EvalTask(0, first, 1))
        bank.add(0, rule_key(first), alone.fingerprint)
        screen = bank.screen(rule_key(other), 0.9)
        assert screen is not None

        screened_first = run_task(evaluator, EvalTask(1, other, 2, screen=screen))
        assert not screened_first.screened
        assert calls == [first.expression, other.expression]
        study = Study(load_run_panel(config), config.backtest)
        assert screened_first.validation == study.evaluate(other, n_trials=2).validation.summary()

    def test_the_history_is_the_one_without_the_screen(self, tmp_path, monkeypatch):
        """Same seed with the screen, without it, and with one rejecting everything: same records.

        A rejection the ledger does not confirm (here: all of them but the real
        near-duplicates) is evaluated in full, so even a wrong screen changes nothing.
        """
        histories = {}
        real = TrialLedger.screen
        screens = {
            "screened": real,
            "off": lambda _self, _strategy: None,
            "rejects_all": lambda self, strategy: (
                None
                if (found := real(self, strategy)) is None
                else Screen(-2.0, found.vectors, found.rule)
            ),
        }
        for name, screen in screens.items():
            monkeypatch.setattr(TrialLedger, "screen", screen)
            config = _real_config(tmp_path / name, iterations=64, batch_size=8)
            summary = LoopRunner.create(config, _real_parts(config), run_id="same").run()
            histories[name] = read_history(summary.path / "history.jsonl").records
        assert any(r.status == "redundant" for r in histories["screened"])
        assert _comparable(histories["screened"]) == _comparable(histories["off"])
        assert _comparable(histories["rejects_all"]) == _comparable(histories["off"])
