from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stratloop.acceptance.llm_server import Reply, ScriptedOpenAIServer, scripted_specs
from stratloop.acceptance.shadow import (
    CHAMPION_SOURCES,
    ShadowExperiment,
    choose_champion,
    latest_run_champion,
    reference_champion,
    run_session,
)
from stratloop.errors import GenerationError, RunError
from stratloop.factors import FactorGraphGenerator, Limits, default_library
from stratloop.factors.mutations import MUTATION_OPERATORS
from stratloop.generation.context import GenerationContext
from stratloop.generation.testing import config_with, drawing_source
from stratloop.iteration import candidate_from_json
from stratloop.llm import LLMClient
from stratloop.llm.proposer import LLMProposer
from stratloop.loop.champion import ChampionTracker, Offer
from stratloop.loop.rundir import RunDir, atomic_write_json
from stratloop.spec import Candidate

FIELDS = frozenset({"close", "returns"})


class _Recording:
    """The real factor-graph generator, keeping every (context, candidate) it served."""

    def __init__(self, inner: FactorGraphGenerator) -> None:
        self.inner = inner
        self.calls: list[tuple[GenerationContext, Candidate]] = []

    def propose(self, ctx: GenerationContext) -> Candidate:
        candidate = self.inner.propose(ctx)
        self.calls.append((ctx, candidate))
        return candidate


def _generator() -> FactorGraphGenerator:
    return FactorGraphGenerator(
        default_library(), limits=Limits(max_window=252), fields=FIELDS, n_assets=20
    )


def _pairs(recording: _Recording) -> list[tuple[tuple[GenerationContext, Candidate], ...]]:
    """The recorded calls as (control, candidate) pairs, one per iteration."""
    calls = recording.calls
    assert len(calls) % 2 == 0
    return [(calls[i], calls[i + 1]) for i in range(0, len(calls), 2)]


class TestExperimentWithChampion:
    def test_factor_graph_iterations_mutate_the_champion_on_both_sides(self):
        """Both sides see the same champion object and produce the same mutation of it."""
        generator = _generator()
        champion = reference_champion(generator)
        recording = _Recording(generator)
        experiment = ShadowExperiment(config_with(True, 0.0), None, recording, champion=champion)
        results = [experiment.run(i) for i in range(25)]
        assert all(r is not None and r.matched for r in results)
        pairs = _pairs(recording)
        assert len(pairs) == 25
        parent = champion.candidate.candidate_id
        for (control_ctx, control), (candidate_ctx, candidate) in pairs:
            assert control_ctx.champion is champion
            assert candidate_ctx.champion is champion
            assert control == candidate
            assert control.lineage.operator in MUTATION_OPERATORS
            assert control.lineage.parents[0] == parent
            assert control.candidate_id != parent

    def test_without_a_champion_factor_graph_iterations_sample(self):
        """No champion: the same experiment samples library factors instead of mutating."""
        recording = _Recording(_generator())
        experiment = ShadowExperiment(config_with(True, 0.0), None, recording)
        assert all(experiment.run(i).matched for i in range(5))
        assert {c.lineage.operator for _ctx, c in recording.calls} == {"sample"}

    def test_mixed_generation_with_a_champion_stays_equivalent(self):
        """LLM and factor-graph iterations mixed: both sides still agree with a champion."""
        champion = reference_champion(_generator())
        recording = _Recording(_generator())
        experiment = ShadowExperiment(
            config_with(None, 50.0), drawing_source("llm"), recording, champion=champion
        )
        results = [experiment.run(i) for i in range(30)]
        assert all(r.matched for r in results)
        methods = {r.control.record.method for r in results}
        assert methods == {"llm", "factor_graph"}
        assert all(c.lineage.operator in MUTATION_OPERATORS for _ctx, c in recording.calls)

    def test_run_session_passes_the_champion_to_every_context(self):
        """run_session hands its champion to both sides of every iteration."""
        generator = _generator()
        champion = reference_champion(generator)
        recording = _Recording(generator)
        session = run_session(config_with(True, 0.0), None, recording, range(8), champion=champion)
        assert session.compare().equivalence == 1.0
        assert len(recording.calls) == 16
        assert all(ctx.champion is champion for ctx, _c in recording.calls)

    def test_the_llm_prompt_shows_the_reference_champion(self):
        """The real LLM proposer gets the champion's spec; no metrics reads 'no metrics'."""
        generator = _generator()
        champion = reference_champion(generator)
        with ScriptedOpenAIServer([Reply(t) for t in scripted_specs(3)], cycle=True) as server:
            config = config_with(False, 0.0)
            config = config.model_copy(
                update={
                    "llm": config.llm.model_copy(
                        update={"base_url": server.base_url, "max_retries": 0}
                    )
                }
            )
            llm = LLMProposer(
                LLMClient(config.llm, sleep=lambda _s: None), limits=Limits(), fields=FIELDS
            )
            experiment = ShadowExperiment(config, llm, generator, champion=champion)
            results = [experiment.run(i) for i in range(3)]
            prompts = [json.dumps(request.body) for request in server.completion_requests]
        assert all(r.matched for r in results)
        assert len(prompts) == experiment.llm_calls == 3
        expression = champion.candidate.strategy.expression
        assert all(expression in p and "no metrics" in p for p in prompts)


class TestReferenceChampion:
    def test_is_the_first_fitting_template_at_its_defaults(self):
        """The reference is the library's first usable template with the default portfolio."""
        generator = _generator()
        champion = reference_champion(generator)
        template = generator.library.usable(generator.fields, generator.limits)[0]
        expected = template.instantiate(fields=generator.fields, limits=generator.limits)
        assert champion.candidate.strategy.expression == expected.text
        assert champion.candidate.strategy.portfolio == generator.default_portfolio
        assert champion.metrics == {}

    def test_limits_that_rule_out_the_first_template_pick_the_next(self):
        """A short max_window skips the 12-1 momentum template rather than failing."""
        generator = FactorGraphGenerator(
            default_library(), limits=Limits(max_window=60), fields=FIELDS, n_assets=20
        )
        champion = reference_champion(generator)
        assert "231" not in champion.candidate.strategy.expression

    def test_a_source_without_a_library_is_a_clear_error(self):
        """A factor-graph source that is not a FactorGraphGenerator names its type and the fix."""
        with pytest.raises(GenerationError, match=r"FunctionSource.*--champion none"):
            reference_champion(drawing_source("factor_graph"))


class TestLatestRunChampion:
    def test_no_run_is_an_error_naming_the_runs_dir(self, tmp_path):
        """An empty runs dir: RunError naming it and the alternative."""
        with pytest.raises(RunError, match=rf"{tmp_path}.*--champion reference"):
            latest_run_champion(tmp_path)

    def test_a_latest_run_without_champion_is_an_error(self, tmp_path):
        """The latest run has no champion.json yet: RunError naming the run."""
        rundir = RunDir.create(tmp_path, "20240101T000000Z-aaaaaa")
        atomic_write_json(rundir.config, {"config": {}})
        with pytest.raises(RunError, match=r"20240101T000000Z-aaaaaa in .* has no champion"):
            latest_run_champion(tmp_path)

    def test_reads_the_latest_runs_champion(self, tmp_path):
        """champion.json of the newest run becomes the snapshot, numeric train metrics included."""
        written = []
        for run_id, expression in (
            ("20240101T000000Z-aaaaaa", "rank(returns)"),
            ("20240102T000000Z-bbbbbb", "-ts_std(returns, 20)"),
        ):
            rundir = RunDir.create(tmp_path, run_id)
            atomic_write_json(rundir.config, {"config": {}})
            tracker = ChampionTracker("sharpe", 1)
            spec = {"expression": expression, "portfolio": {"kind": "top_n", "n": 5}}
            candidate = candidate_from_json({"spec": spec, "method": "llm"})
            train = {"sharpe": 1.5, "n_trades": 9, "start": "2000-01-03", "factor": {"ic": 0.1}}
            tracker.offer(Offer(3, candidate, train, {"sharpe": 0.5, "n_trades": 9}))
            atomic_write_json(rundir.champion, tracker.as_dict())
            written.append(tracker.as_dict())
        run_id, snapshot = latest_run_champion(tmp_path)
        assert run_id == "20240102T000000Z-bbbbbb"
        assert snapshot.candidate.candidate_id == written[1]["candidate_id"]
        assert snapshot.candidate.strategy.expression == "-ts_std(returns, 20)"
        assert (dict(snapshot.metrics), snapshot.iteration) == ({"sharpe": 1.5, "n_trades": 9}, 3)

    def test_a_malformed_champion_file_is_an_error(self, tmp_path):
        """A champion.json without a spec is a RunError naming the file."""
        rundir = RunDir.create(tmp_path, "20240101T000000Z-aaaaaa")
        atomic_write_json(rundir.config, {"config": {}})
        atomic_write_json(rundir.champion, {"method": "llm"})
        with pytest.raises(RunError, match=r"champion\.json is not a champion record"):
            latest_run_champion(tmp_path)


class TestChooseChampion:
    def test_each_source_and_its_record(self, tmp_path):
        """Source none has no strategy id; reference names its strategy id and expression."""
        generator = _generator()
        none = choose_champion("none", generator, tmp_path)
        assert (none.snapshot, none.as_dict()["strategy_id"]) == (None, None)
        reference = choose_champion("reference", generator, tmp_path).as_dict()
        assert reference["source"] == "reference"
        assert reference["strategy_id"] == reference_champion(generator).candidate.candidate_id
        with pytest.raises(RunError):
            choose_champion("latest-run", generator, tmp_path)

    @given(source=st.text(max_size=20).filter(lambda s: s not in CHAMPION_SOURCES))
    def test_an_unknown_source_is_refused(self, source):
        """Anything but none, reference and latest-run is an error listing them."""
        with pytest.raises(ValueError, match="none, reference, latest-run"):
            choose_champion(source, _generator(), Path("runs"))
