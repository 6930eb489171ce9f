"""Per-call records: logged by the proposer, kept in the history, summarised by llm-report."""

from __future__ import annotations

import dataclasses
import json

import pytest
from llm_helpers import llm_context
from typer.testing import CliRunner

from iteration_records import record_at
from run_helpers import enter_workdir
from stratloop.acceptance.llm_server import Reply, Sampled, ScriptedOpenAIServer
from stratloop.cli import app
from stratloop.errors import LLMGenerationError
from stratloop.iteration import IterationRecord
from stratloop.llm.calls import MAX_RECORDED_REPLY, LLMCall, summarise_calls
from stratloop.loop.history import read_history

GOOD = json.dumps({"expression": "rank(returns)", "portfolio": {"kind": "top_n", "n": 5}})
LEAKY = json.dumps(
    {"expression": "rank(close) sk-abcdefghijklmnopqrstuvwx", "portfolio": {"kind": "top_n"}}
)
class TestLogged:
    def test_a_rejected_reply_is_kept_redacted(self, server, make_config, make_llm_proposer):
        """The rejected reply's text and reason are recorded; a key in it is hidden."""
        server.extend([Reply(LEAKY, finish_reason="stop"), Reply(GOOD)])
        config = make_config(cost_per_1k_tokens=2.0)
        proposer = make_llm_proposer(config)
        proposer.propose(llm_context(config))
        rejected, accepted = proposer.budget.drain_calls()
        assert (rejected.purpose, rejected.outcome) == ("propose", "rejected")
        assert (accepted.purpose, accepted.outcome) == ("repair", "accepted")
        assert rejected.reply is not None
        assert "rank(close)" in rejected.reply
        assert "sk-abcdefghijklmnopqrstuvwx" not in rejected.reply
        assert "not a valid strategy spec" in (rejected.error or "")
        assert accepted.reply is None
        assert rejected.cost == pytest.approx(150 * 2.0 / 1000)
        assert rejected.latency_s > 0
        assert proposer.budget.drain_calls() == ()

    def test_a_failed_generation_keeps_every_call(self, server, make_config, make_llm_proposer):
        """With no valid reply, both calls are recorded as rejected."""
        server.extend([Reply("no json here"), Reply("still none")])
        config = make_config()
        proposer = make_llm_proposer(config)
        with pytest.raises(LLMGenerationError):
            proposer.propose(llm_context(config))
        calls = proposer.budget.drain_calls()
        assert [c.outcome for c in calls] == ["rejected", "rejected"]
        assert [c.reply for c in calls] == ["no json here", "still none"]

    def test_replies_are_bounded(self) -> None:
        """A long reply keeps its first MAX_RECORDED_REPLY characters."""
        call = LLMCall("m", "propose", "rejected", 0.1, reply="x" * 10_000)
        assert call.reply is not None
        assert len(call.reply) < MAX_RECORDED_REPLY + 10

    def test_json_round_trip(self) -> None:
        """A call reads back as it was written."""
        call = LLMCall("m", "repair", "accepted", 0.25, 10, 5, 0.01, "stop", "grammar")
        assert LLMCall.from_json(json.loads(json.dumps(call.to_json()))) == call


class TestInTheRecord:
    def test_the_history_line_round_trips_the_calls(self) -> None:
        """llm_calls is written when there are calls and reads back equal."""
        calls = (
            LLMCall("m", "propose", "rejected", 0.5, 10, 5, None, "length", "none",
                    error="cut off", reply='{"expression": "rank('),
            LLMCall("m", "repair", "accepted", 0.25, 12, 6, None, "stop"),
        )
        record = dataclasses.replace(record_at(0), llm_calls=calls)
        line = record.to_json()
        assert json.loads(line)["llm_calls"][0]["reply"] == '{"expression": "rank('
        assert IterationRecord.from_json(line) == record
        assert "llm_calls" not in json.loads(record_at(0).to_json())

    def test_latency_is_volatile(self) -> None:
        """Two runs of one seed differ in latency only; comparable() drops it."""
        a = dataclasses.replace(record_at(0), llm_calls=(LLMCall("m", "propose", "accepted", 1.0),))
        b = dataclasses.replace(record_at(0), llm_calls=(LLMCall("m", "propose", "accepted", 2.0),))
        assert a.comparable() == b.comparable()


class TestSummary:
    def test_rates_per_model(self) -> None:
        """First-try, repaired and failed proposals, improvements and latency per model."""
        ok = LLMCall("a", "propose", "accepted", 1.0, 10, 10, finish_reason="stop")
        bad = LLMCall("a", "propose", "rejected", 2.0, 10, 10, finish_reason="length",
                      error="the LLM's reply is not a valid strategy spec: the reply holds no "
                            "JSON object; answer with exactly one")
        fix = LLMCall("a", "repair", "accepted", 3.0, 10, 10, finish_reason="stop")
        other = LLMCall("b", "propose", "rejected", 4.0, error="x")
        (a, b) = summarise_calls([((ok,), True), ((bad, fix), False), ((other,), None)])
        assert (a.model, a.proposals, a.valid_first_try, a.repaired) == ("a", 2, 1, 1)
        assert a.improvement_rate == 0.5
        assert a.valid_first_try_rate == 0.5
        assert a.latency_percentile(50) == 2.0
        assert a.finish_reasons == {"stop": 2, "length": 1}
        assert list(a.rejections) == ["the reply holds no JSON object"]
        assert (b.proposals, b.failed_proposals, b.acceptance_rate) == (1, 1, 0.0)


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    return enter_workdir(tmp_path, monkeypatch)


class TestInTheRun:
    @pytest.mark.slow
    def test_history_holds_the_calls_and_llm_report_summarises_them(self, workdir):
        """An LLM-only run with an ensemble and auto structured output, then llm-report."""
        script = [Sampled(), *(Sampled(seed) for seed in range(1, 20))]
        with ScriptedOpenAIServer(script) as server:
            (workdir / "c.yaml").write_text(
                "version: 1\n"
                "generation: {use_factor_graph: false, innovation_rate: 0}\n"
                f"llm: {{enabled: true, base_url: '{server.base_url}', model: m,"
                " structured_output: auto, cost_per_1k_tokens: 1.0,"
                " models: [{model: small, weight: 3}, {model: big, weight: 1}]}\n"
            )
            result = CliRunner().invoke(
                app, ["run", "--no-progress", "--config", "c.yaml", "--iterations", "8"]
            )
        assert result.exit_code == 0, result.output
        assert "valid first try" in " ".join(result.output.split())
        run_id = next((workdir / "runs").iterdir()).name
        shown = CliRunner().invoke(app, ["show", run_id])
        assert "proposals, 100% valid first try" in " ".join(shown.output.split())
        records = read_history(workdir / "runs" / run_id / "history.jsonl").records
        calls = [call for record in records for call in record.llm_calls]
        assert calls[0].purpose == "probe"
        assert {c.structured_output for c in calls if c.purpose != "probe"} == {"grammar"}
        assert all(c.outcome == "accepted" for c in calls if c.purpose != "probe")
        assert sum(1 for c in calls if c.purpose == "propose") == 8
        report = CliRunner().invoke(app, ["llm-report", run_id, "--json"])
        assert report.exit_code == 0, report.output
        payload = json.loads(report.output)
        assert payload["structured_output"]["probe"] == {"grammar": "honoured"}
        assert payload["structured_output"]["calls"] == {"grammar": 8}
        rows = {row["model"]: row for row in payload["models"]}
        assert set(rows) <= {"small", "big"}
        assert sum(row["proposals"] for row in rows.values()) == 8
        assert all(row["valid_first_try_rate"] == 1.0 for row in rows.values())
        table = CliRunner().invoke(app, ["llm-report", run_id])
        assert "finish reasons: stop" in table.output
        assert "auto probe: grammar honoured" in table.output
