"""The one generation path: each flag state's rule, failure policy and recorded names."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stratloop.errors import (
    ConfigConflictError,
    GenerationError,
    LLMEmptyResponseError,
    LLMGenerationError,
    LLMUnavailableError,
    MutationError,
)
from stratloop.flags import Flags
from stratloop.generation import (
    FunctionSource,
    GenerationContext,
    Sources,
    StrategyFactory,
    generate,
    generate_iteration,
    iteration_rng,
)
from stratloop.generation.generate import implementation_for
from stratloop.generation.testing import (
    config_with,
    constant_source,
    drawing_source,
    failing_source,
)
from stratloop.spec import Candidate, Strategy, TopN

FG = drawing_source("factor_graph")
LLM = drawing_source("llm")
EMPTY = failing_source(lambda: LLMEmptyResponseError("empty reply"))
DOWN = failing_source(lambda: LLMUnavailableError("endpoint down"))


def _procedural(ctx, llm, factor_graph=FG):
    policy = ctx.config.generation.on_llm_failure
    return generate(ctx, "priority", Sources(llm, factor_graph), policy)


def _pattern(ctx, factory):
    return generate(ctx, "priority", factory, ctx.config.generation.on_llm_failure)


def _legacy(ctx, llm, factor_graph=FG):
    return generate(ctx, "legacy", Sources(llm, factor_graph), "silent")


def _ctx(use_factor_graph, rate, on_llm_failure="fail", *, llm_enabled=True, iteration=7):
    config = config_with(
        use_factor_graph, rate, on_llm_failure=on_llm_failure, llm_enabled=llm_enabled
    )
    return GenerationContext.create(config, iteration)


class TestPriorityRuleCalledDirectly:
    def test_explicit_factor_graph(self):
        """use_factor_graph true produces a factor-graph candidate."""
        outcome = _procedural(_ctx(True, 0.0), LLM)
        assert (outcome.method_used, outcome.strategy_selected) == ("factor_graph", "procedural")
        assert outcome.fallback is None

    def test_llm_failure_with_fail_policy_returns_failed_outcome(self):
        """on_llm_failure fail: no candidate, the error type and message are kept."""
        outcome = _procedural(_ctx(False, 0.0), EMPTY)
        assert not outcome.succeeded
        assert outcome.method_used is None
        assert outcome.fallback is None
        assert outcome.error_type == "LLMEmptyResponseError"
        assert outcome.error_message == "empty reply"

    def test_llm_failure_with_fallback_policy_is_explicit(self):
        """fallback_to_factor_graph: a recorded, explicit fallback."""
        outcome = _procedural(_ctx(False, 0.0, "fallback_to_factor_graph"), EMPTY)
        assert outcome.method_used == "factor_graph"
        assert outcome.fallback is not None
        assert outcome.fallback.kind == "explicit"
        assert "on_llm_failure" in outcome.fallback.reason
        assert outcome.error_type == "LLMEmptyResponseError"

    def test_failed_fallback_keeps_both_errors(self):
        """When the fallback fails too, the outcome fails with the fallback recorded."""
        broken = failing_source(lambda: MutationError("no valid child"))
        outcome = _procedural(_ctx(False, 0.0, "fallback_to_factor_graph"), EMPTY, broken)
        assert outcome.candidate is None
        assert outcome.fallback is not None
        assert outcome.fallback.error_type == "LLMEmptyResponseError"
        assert outcome.error_type == "MutationError"

    def test_factor_graph_failure_never_falls_back(self):
        """Only LLM failures may fall back; a factor-graph failure fails the iteration."""
        broken = failing_source(lambda: MutationError("no valid child"))
        outcome = _procedural(_ctx(True, 0.0, "fallback_to_factor_graph"), LLM, broken)
        assert (outcome.candidate, outcome.fallback, outcome.error_type) == (
            None, None, "MutationError",
        )

    def test_parse_error_cause_survives_in_message(self):
        """A chained LLMGenerationError is reported by its own type."""
        def raise_chained():
            error = LLMGenerationError("no valid spec in reply")
            error.__cause__ = ValueError("bad token")
            return error
        outcome = _procedural(_ctx(False, 0.0), failing_source(raise_chained))
        assert outcome.error_type == "LLMGenerationError"

    def test_missing_llm_is_a_config_conflict(self):
        """An LLM mandated by the configuration but not provided raises, never falls back."""
        with pytest.raises(ConfigConflictError, match="llm_required_but_missing"):
            _procedural(_ctx(None, 10.0), None)

    def test_mislabelled_candidate_is_a_generation_error(self):
        """A source returning another method's candidate is a programming error."""
        fixed = Candidate(Strategy(expression="returns", portfolio=TopN(n=1)), "llm")
        wrong = constant_source(fixed)
        with pytest.raises(GenerationError, match="marked 'llm'"):
            _procedural(_ctx(True, 0.0), LLM, wrong)


class TestLegacyRule:
    def test_ignores_use_factor_graph(self):
        """use_factor_graph true does not stop the legacy draw from choosing the LLM."""
        outcome = _legacy(_ctx(True, 100.0, iteration=0), LLM)
        assert outcome.decision.rule == "legacy_draw"
        assert outcome.method_used == "llm"

    def test_llm_disabled_means_factor_graph(self):
        """With the LLM disabled the legacy rule always picks the factor graph."""
        outcome = _legacy(_ctx(None, 100.0, llm_enabled=False, iteration=0), LLM)
        assert outcome.method_used == "factor_graph"
        assert outcome.decision.draw == iteration_rng(42, 0).random()

    def test_llm_failure_falls_back_silently_but_is_recorded(self):
        """The silent fallback still carries Fallback(kind='silent') for metrics."""
        outcome = _legacy(_ctx(None, 100.0, iteration=0), DOWN)
        assert outcome.implementation == "legacy"
        assert outcome.method_used == "factor_graph"
        assert outcome.fallback is not None
        assert outcome.fallback.kind == "silent"
        assert outcome.fallback.error_type == "LLMUnavailableError"

    def test_missing_llm_client_falls_back_silently(self):
        """Legacy with llm enabled but no client behaves as an unavailable LLM."""
        outcome = _legacy(_ctx(None, 100.0, iteration=0), None)
        assert outcome.fallback is not None
        assert outcome.fallback.error_type == "LLMUnavailableError"
        assert outcome.candidate is not None


FLAKY_LLM = failing_source(lambda: LLMUnavailableError("down"))


def _sometimes_failing_llm():
    """Fails on even draws: exercises both success and failure on the same stream."""
    good = drawing_source("llm")

    def propose(ctx):
        if ctx.rng.random() < 0.5:
            raise LLMGenerationError("prose, no spec")
        return good.propose(ctx)

    return FunctionSource(propose)


def _key(outcome):
    candidate = outcome.candidate
    return (
        outcome.decision,
        outcome.method_used,
        outcome.fallback,
        outcome.error_type,
        outcome.error_message,
        None if candidate is None else (candidate.candidate_id, candidate.lineage),
    )


configs = st.builds(
    config_with,
    st.sampled_from([True, False, None]),
    st.floats(0.0, 100.0, allow_nan=False),
    on_llm_failure=st.sampled_from(["fail", "fallback_to_factor_graph"]),
    seed=st.integers(0, 2**63 - 1),
)


class TestThroughStrategies:
    @settings(max_examples=150, deadline=None)
    @given(config=configs, iteration=st.integers(0, 10**6), llm_kind=st.integers(0, 2))
    def test_equals_the_direct_call_bit_for_bit(self, config, iteration, llm_kind):
        """Same seed and config: same decision, draw, fallback and candidate, whichever path."""
        llm = (LLM, FLAKY_LLM, _sometimes_failing_llm())[llm_kind]
        procedural = _procedural(GenerationContext.create(config, iteration), llm)
        pattern = _pattern(GenerationContext.create(config, iteration), StrategyFactory(llm, FG))
        assert _key(procedural) == _key(pattern)
        assert pattern.implementation == "strategy_pattern"

    def test_records_the_selected_strategy_name(self):
        """strategy_selected names the strategy class."""
        outcome = _pattern(
            GenerationContext.create(config_with(None, 40.0), 1), StrategyFactory(LLM, FG)
        )
        assert outcome.strategy_selected == "MixedStrategy"

    def test_llm_failure_with_fail_policy_keeps_the_decision(self):
        """A failed LLM iteration still records the LLMStrategy decision."""
        outcome = _pattern(
            GenerationContext.create(config_with(False, 0.0), 1), StrategyFactory(FLAKY_LLM, FG)
        )
        assert outcome.decision.rule == "explicit_llm"
        assert outcome.strategy_selected == "LLMStrategy"
        assert outcome.error_type == "LLMUnavailableError"


class TestImplementationFor:
    @pytest.mark.parametrize(
        ("flags", "expected"),
        [
            (Flags(), "strategy_pattern"),
            (Flags(phase3=False), "procedural"),
            (Flags(master=False), "legacy"),
            (Flags(phase1=False, phase3=False), "legacy"),
        ],
    )
    def test_flags_choose_the_path(self, flags, expected):
        """Master off or Phase 1 off is legacy; Phase 3 on is the strategy pattern."""
        assert implementation_for(flags.enforcement, flags.strategy_pattern) == expected


class TestGenerateIteration:
    @pytest.mark.parametrize(
        ("flags", "implementation"),
        [
            (Flags(), "strategy_pattern"),
            (Flags(phase3=False), "procedural"),
            (Flags(master=False), "legacy"),
        ],
    )
    def test_dispatches_and_records_the_implementation(self, flags, implementation):
        """The outcome says which code path ran."""
        ctx = GenerationContext.create(config_with(None, 50.0), 5)
        outcome = generate_iteration(ctx, flags, llm=LLM, factor_graph=FG)
        assert outcome.implementation == implementation
        assert outcome.succeeded

    def test_rollback_changes_only_the_path_not_the_result(self):
        """Turning Phase 3 off gives the same candidate for the same iteration."""
        config = config_with(None, 50.0)
        on = generate_iteration(
            GenerationContext.create(config, 9), Flags(), llm=LLM, factor_graph=FG
        )
        off = generate_iteration(
            GenerationContext.create(config, 9),
            Flags(phase3=False),
            llm=LLM,
            factor_graph=FG,
        )
        assert on.candidate == off.candidate
        assert on.decision == off.decision


class TestRepeats:
    """A repeat goes back to the generator the decision named, within search.repeat_attempts."""

    def test_a_repeat_is_sent_back_and_the_decision_stays(self):
        """The first candidate repeats: the same generator is asked again and sees the repeat."""
        plain = _procedural(_ctx(None, 50), LLM, FG)
        proposed = []
        seen = []

        def propose(attempt):
            seen.append(tuple(r.of_iteration for r in attempt.repeats))
            candidate = (LLM if plain.decision.method == "llm" else FG).propose(attempt)
            proposed.append(candidate.strategy)
            return candidate

        source = FunctionSource(propose)
        again = generate(
            _ctx(None, 50), "priority", Sources(source, source), "fail",
            lambda s: 3 if s == proposed[0] else None,
        )
        assert again.decision == plain.decision
        assert proposed[0] == plain.candidate.strategy
        assert seen == [(), (3,)]
        assert [r.of_iteration for r in again.repeats] == [3]
        assert again.repeats[0].candidate.strategy == proposed[0]
        assert again.candidate is not None
        assert again.candidate.strategy == proposed[1] != proposed[0]

    @pytest.mark.parametrize("path", ["procedural", "pattern"])
    def test_only_repeats_exhaust_the_iteration(self, path):
        """A generator that only repeats is asked 1 + repeat_attempts times; no candidate."""
        ctx = _ctx(True, 0)
        calls = []
        same = Candidate(Strategy(expression="rank(returns)", portfolio=TopN(n=2)), "factor_graph")

        def propose(attempt):
            calls.append(len(attempt.repeats))
            return same

        source = FunctionSource(propose)
        sources = StrategyFactory(None, source) if path == "pattern" else Sources(None, source)
        outcome = generate(ctx, "priority", sources, "fail", lambda _s: 0)
        assert calls == [0, 1, 2, 3, 4, 5]
        assert outcome.candidate is None
        assert outcome.exhausted
        assert outcome.error_type == "RepeatedCandidateError"
        assert len(outcome.repeats) == 6

    def test_the_fallback_candidate_is_checked_too(self):
        """When the LLM fails and the factor graph rescues, its repeat is sent back as well."""
        ctx = _ctx(False, 100, "fallback_to_factor_graph")
        rescued = []

        def propose(attempt):
            rescued.append(len(attempt.repeats))
            return FG.propose(attempt)

        outcome = generate(
            ctx,
            "priority",
            Sources(DOWN, FunctionSource(propose)),
            "fallback_to_factor_graph",
            lambda _s: 1 if not rescued[1:] else None,
        )
        assert rescued == [0, 1]
        assert outcome.method_used == "factor_graph"
        assert outcome.fallback is not None
        assert [r.of_iteration for r in outcome.repeats] == [1]
