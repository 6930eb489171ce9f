"""The deployment guide's shadow-mode tests: Phase 1-2 against Phase 3, the critical gate.

Run as the guide does: ``pytest tests/learning/test_shadow_mode_equivalence.py -v``.
The guide counts 16 shadow-mode tests; this file holds exactly those. Both
sides get the real generators: the factor-graph generator and the LLM
proposer with its ``openai`` client against a loopback scripted server.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from stratloop.acceptance.llm_server import ErrorStatus, Reply, ScriptedOpenAIServer, scripted_specs
from stratloop.acceptance.shadow import (
    ShadowExperiment,
    ShadowRecord,
    compare_records,
    read_log,
    write_log,
)
from stratloop.cli import app
from stratloop.factors import FactorGraphGenerator, Limits, default_library
from stratloop.flags import Flags
from stratloop.generation import GenerationContext, StrategyFactory, generate, generate_iteration
from stratloop.generation.testing import config_with
from stratloop.llm import LLMClient
from stratloop.llm.proposer import LLMProposer

FIELDS = frozenset({"close"})


def _config(use_factor_graph, rate, base_url, **kwargs):
    config = config_with(use_factor_graph, rate, **kwargs)
    return config.model_copy(
        update={"llm": config.llm.model_copy(update={"base_url": base_url, "max_retries": 0})}
    )


def _factor_graph(max_window=252):
    limits = Limits(max_window=max_window)
    return FactorGraphGenerator(default_library(), limits=limits, fields=FIELDS, n_assets=20)


def _llm(config):
    return LLMProposer(LLMClient(config.llm, sleep=lambda _s: None), limits=Limits(), fields=FIELDS)


def _experiment(server, use_factor_graph=None, rate=50.0, **kwargs):
    config = _config(use_factor_graph, rate, server.base_url, **kwargs)
    return ShadowExperiment(config, _llm(config), _factor_graph())


def _run(experiment, iterations=30):
    return [experiment.run(i) for i in range(iterations)]


@pytest.fixture
def server():
    with ScriptedOpenAIServer([Reply(t) for t in scripted_specs(7)], cycle=True) as scripted:
        yield scripted


class TestEquivalence:
    @pytest.mark.parametrize("use_factor_graph", [True, False, None])
    def test_procedural_and_strategy_pattern_agree_on_every_iteration(
        self, server, use_factor_graph
    ):
        """Each configuration: decision, method and candidate agree on all 30 iterations."""
        results = _run(_experiment(server, use_factor_graph, 40.0))
        assert all(r is not None and r.matched for r in results)
        assert {r.control.record.method for r in results} <= {"llm", "factor_graph"}

    def test_agreement_holds_across_seeds(self, server):
        """Five run seeds, mixed generation: 100% equivalence on each."""
        for seed in (0, 1, 7, 42, 2**40):
            results = _run(_experiment(server, None, 50.0, seed=seed), 20)
            assert all(r.matched for r in results), seed

    def test_failing_llm_fails_both_sides_the_same_way(self):
        """With on_llm_failure fail, a 500 from the endpoint is the same failure on both sides."""
        with ScriptedOpenAIServer([ErrorStatus(500)], cycle=True) as down:
            results = _run(_experiment(down, False, 0.0), 5)
        assert all(r.matched for r in results)
        assert {r.control.record.error_type for r in results} == {"LLMUnavailableError"}
        assert all(r.candidate.record.candidate_id is None for r in results)

    def test_explicit_fallback_is_taken_identically(self):
        """fallback_to_factor_graph: both sides fall back to the same factor-graph candidate."""
        with ScriptedOpenAIServer([ErrorStatus(500)], cycle=True) as down:
            experiment = _experiment(down, False, 0.0, on_llm_failure="fallback_to_factor_graph")
            results = _run(experiment, 5)
        assert all(r.matched for r in results)
        records = [r.candidate.record for r in results]
        assert {(x.fallback_kind, x.method_used) for x in records} == {("explicit", "factor_graph")}

    def test_empty_llm_reply_is_the_same_typed_failure(self):
        """An empty reply is LLMEmptyResponseError on both sides, asked once."""
        with ScriptedOpenAIServer([Reply("")], cycle=True) as empty:
            experiment = _experiment(empty, False, 0.0)
            results = _run(experiment, 3)
            requests = len(empty.completion_requests)
        assert all(r.matched for r in results)
        assert {r.control.record.error_type for r in results} == {"LLMEmptyResponseError"}
        assert requests == experiment.llm_calls == 3


class TestIgnoreRules:
    def test_code_path_name_and_timings_are_ignored_not_mismatched(self, server):
        """strategy_selected and implementation differ on every iteration, yet all match."""
        results = _run(_experiment(server, None, 50.0), 10)
        assert all(r.matched and r.ignored for r in results)
        ignored = [set(r.ignored_fields) for r in results]
        assert all({"strategy_selected", "implementation"} <= fields for fields in ignored)
        assert all(r.mismatched_fields == () for r in results)


class TestMismatchDetection:
    def test_a_candidate_path_with_a_different_generator_is_caught(self, server):
        """A strategy pattern given another factor graph differs in candidate id, not decision."""
        config = _config(True, 0.0, server.base_url)
        other = StrategyFactory(None, _factor_graph(max_window=60))
        experiment = ShadowExperiment(
            config,
            None,
            _factor_graph(),
            candidate=lambda ctx: generate(ctx, "priority", other, "fail"),
        )
        results = _run(experiment, 20)
        assert sum(not r.matched for r in results) >= 10
        assert all(r.mismatched_fields == ("candidate_id",) for r in results if not r.matched)

    def test_a_candidate_path_that_decides_differently_is_caught(self, server):
        """A path that reads a different innovation rate differs in method on some iterations."""
        config = _config(None, 20.0, server.base_url)
        shifted = _config(None, 80.0, server.base_url)
        llm, factor_graph = _llm(shifted), _factor_graph()

        def candidate(ctx):
            ctx = GenerationContext.create(shifted, ctx.iteration)
            return generate_iteration(ctx, Flags(phase3=False), llm=llm, factor_graph=factor_graph)

        experiment = ShadowExperiment(config, _llm(config), _factor_graph(), candidate=candidate)
        results = _run(experiment, 40)
        changed = {r.iteration for r in results if "method" in r.mismatched_fields}
        between = {r.iteration for r in results if 20.0 <= r.control.record.draw * 100 < 80.0}
        assert changed == between
        assert changed

    def test_internal_failures_go_to_the_raised_hook(self, server):
        """A context that cannot be built is reported to raised(operation, error), not logged."""
        seen = []
        experiment = _experiment(server)
        experiment = ShadowExperiment(
            experiment.config,
            experiment.llm,
            experiment.factor_graph,
            raised=lambda operation, error: seen.append((operation, type(error).__name__)),
        )
        experiment.run(-1)
        assert seen == [("control.context", "ValueError"), ("candidate.context", "ValueError")]
        assert experiment.internal_errors == []

    def test_the_llm_is_asked_once_per_question(self, server):
        """Only the control's LLM iterations reach the endpoint; the candidate reuses the answer."""
        experiment = _experiment(server, None, 50.0)
        results = _run(experiment, 30)
        llm_iterations = sum(r.control.record.method == "llm" for r in results)
        assert llm_iterations > 0
        assert len(server.completion_requests) == llm_iterations == experiment.llm_calls


def _records(count, *, differ=()):
    return [
        ShadowRecord(
            iteration=i,
            method="factor_graph",
            rule="innovation_draw",
            draw=0.5,
            method_used="factor_graph",
            candidate_id=f"x{i}" if i not in differ else "other",
            fallback_kind=None,
            error_type=None,
            strategy_selected="procedural",
            implementation="procedural",
            duration_ms=1.0,
        )
        for i in range(count)
    ]


def _compare_cli(tmp_path, old, new, threshold):
    write_log(tmp_path / "old.json", old, {"implementation": "procedural"})
    write_log(tmp_path / "new.json", new, {"implementation": "strategy_pattern"})
    return CliRunner().invoke(
        app,
        [
            "shadow",
            "compare",
            "--old",
            str(tmp_path / "old.json"),
            "--new",
            str(tmp_path / "new.json"),
            "--threshold",
            str(threshold),
            "--output",
            str(tmp_path / "report.json"),
        ],
    )


class TestCompareTool:
    def test_exit_0_at_exactly_the_threshold(self, tmp_path):
        """19 of 20 matching is 95%: passes --threshold 0.95 and reports it."""
        result = _compare_cli(tmp_path, _records(20), _records(20, differ={4}), 0.95)
        assert result.exit_code == 0, result.output
        report = json.loads((tmp_path / "report.json").read_text())
        assert (report["matched"], report["mismatched"], report["passed"]) == (19, 1, True)

    def test_exit_1_below_the_threshold_naming_the_iterations(self, tmp_path):
        """18 of 20 is below 95%: exit 1, the differing iterations and fields are shown."""
        result = _compare_cli(tmp_path, _records(20), _records(20, differ={4, 9}), 0.95)
        assert result.exit_code == 1
        assert "iteration 4: differs in candidate_id" in result.output
        assert "90.00% is below the threshold 95.00%" in result.output

    def test_exit_2_for_a_missing_log_without_traceback(self, tmp_path):
        """A log that does not exist is a usage error that says how to create it."""
        result = CliRunner().invoke(
            app,
            [
                "shadow",
                "compare",
                "--old",
                str(tmp_path / "nope.json"),
                "--new",
                str(tmp_path / "nope.json"),
            ],
        )
        assert result.exit_code == 2
        assert "generate_shadow_logs.py" in result.output
        assert "Traceback" not in result.output


_record = st.builds(
    ShadowRecord,
    iteration=st.integers(0, 10**6),
    method=st.sampled_from(["llm", "factor_graph"]),
    rule=st.sampled_from(["explicit_llm", "explicit_factor_graph", "innovation_draw"]),
    draw=st.floats(0, 1, exclude_max=True),
    method_used=st.none() | st.sampled_from(["llm", "factor_graph"]),
    candidate_id=st.none() | st.text(min_size=1, max_size=16),
    fallback_kind=st.none() | st.sampled_from(["explicit", "silent"]),
    error_type=st.none() | st.sampled_from(["LLMUnavailableError", "LLMEmptyResponseError"]),
    strategy_selected=st.sampled_from(["procedural", "MixedStrategy", "LLMStrategy"]),
    implementation=st.sampled_from(["procedural", "strategy_pattern"]),
    duration_ms=st.floats(0, 1e6),
)


class TestLogRoundTrip:
    @settings(max_examples=50, deadline=None)
    @given(records=st.lists(_record, max_size=8, unique_by=lambda r: r.iteration))
    def test_written_logs_read_back_equal_and_compare_fully_equivalent(self, records):
        """write_log then read_log gives the same records, which compare as 100% equivalent."""
        import tempfile  # noqa: PLC0415 - hypothesis examples cannot share a pytest tmp_path

        with tempfile.TemporaryDirectory() as directory:
            path = Path(directory) / "log.json"
            write_log(path, records, {"implementation": "procedural"})
            again = read_log(path)
        assert list(again) == records
        assert compare_records(records, again).equivalence == 1.0
