import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import MappingProxyType

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stratloop.acceptance.llm_server import (
    Disconnect,
    ErrorStatus,
    Hang,
    Malformed,
    NoChoices,
    Reply,
    ScriptedOpenAIServer,
)
from stratloop.config.models import GenerationConfig, LLMConfig, StratloopConfig
from stratloop.errors import (
    ExpressionError,
    LLMBudgetExhaustedError,
    LLMEmptyResponseError,
    LLMError,
    LLMGenerationError,
    LLMUnavailableError,
)
from stratloop.factors import FactorTemplate, Limits, ParamRange, default_library
from stratloop.generation.context import ChampionSnapshot, Feedback, GenerationContext
from stratloop.generation.strategies import CandidateSource
from stratloop.llm.budget import TokenBudget
from stratloop.llm.client import LLMClient
from stratloop.llm.prompts import Universe
from stratloop.llm.proposer import LLMProposer
from stratloop.spec import Candidate, Strategy, TopN

KEY = "sk-proposer-SECRET-91b7"
FIELDS = frozenset({"close"})
GOOD = json.dumps(
    {
        "expression": "rank(ts_mean(returns, 20))",
        "portfolio": {"kind": "top_n", "n": 5},
        "rationale": "medium-term momentum",
    }
)
UNKNOWN_OP = json.dumps(
    {"expression": "rank(ts_meen(close, 20))", "portfolio": {"kind": "top_n", "n": 5}}
)
CHAMPION = ChampionSnapshot(
    Candidate(Strategy(expression="rank(returns)", portfolio=TopN(n=3)), "factor_graph"),
    MappingProxyType({"sharpe": 0.9}),
)


def _ctx(llm: LLMConfig, *, champion=None, feedback=()) -> GenerationContext:
    config = StratloopConfig(
        version=1,
        generation=GenerationConfig(use_factor_graph=False, innovation_rate=0),
        llm=llm,
    )
    return GenerationContext.create(config, 7, champion=champion, feedback=feedback)


@pytest.fixture
def config(make_config: Callable[..., LLMConfig]) -> LLMConfig:
    return make_config(timeout_s=2.0)


@pytest.fixture
def make_proposer() -> Iterator[Callable[..., LLMProposer]]:
    """Build proposers over real clients, closing their connections afterwards."""
    clients: list[LLMClient] = []

    def build(config: LLMConfig, **kwargs) -> LLMProposer:
        client = LLMClient(config, environ={"TEST_LLM_KEY": KEY}, sleep=lambda _: None)
        clients.append(client)
        return LLMProposer(client, limits=Limits(), fields=FIELDS, **kwargs)

    yield build
    for client in clients:
        client.close()


class TestPropose:
    def test_good_spec(self, make_proposer, server: ScriptedOpenAIServer, config) -> None:
        """A valid reply becomes an 'llm' candidate whose lineage names the champion."""
        server.extend([Reply(GOOD, prompt_tokens=120, completion_tokens=30)])
        proposer = make_proposer(config)
        candidate = proposer.propose(_ctx(config, champion=CHAMPION))
        assert candidate.method == "llm"
        assert candidate.strategy.expression == "rank(ts_mean(returns, 20))"
        assert candidate.lineage.operator == "llm"
        assert candidate.lineage.parents == (CHAMPION.candidate.candidate_id,)
        params = candidate.lineage.params
        assert (params["tokens"], params["replies"], params["repair_rounds_used"]) == (150, 1, 0)
        assert params["rationale"] == "medium-term momentum"
        assert params["model"] == "scripted-model"
        assert proposer.usage.tokens == 150
        assert proposer.usage.calls == 1

    def test_is_a_candidate_source(self, make_proposer, config) -> None:
        """It satisfies the generation package's CandidateSource protocol."""
        assert isinstance(make_proposer(config), CandidateSource)

    def test_no_champion_no_parents(self, make_proposer, server, config) -> None:
        """The first candidate of a run has no parents."""
        server.extend([Reply(GOOD)])
        assert make_proposer(config).propose(_ctx(config)).lineage.parents == ()

    def test_does_not_touch_rng(self, make_proposer, server, config) -> None:
        """The iteration's generator is left for the decision and later draws."""
        server.extend([Reply(UNKNOWN_OP), Reply(GOOD)])
        ctx = _ctx(config)
        before = ctx.rng.bit_generator.state
        make_proposer(config).propose(ctx)
        assert ctx.rng.bit_generator.state == before

    def test_prompt_shows_dsl_fields_champion(self, make_proposer, server, config) -> None:
        """The request holds the DSL reference, fields, champion and feedback."""
        server.extend([Reply(GOOD)])
        feedback = (Feedback(6, "rank(delta(close, 5))", "factor_graph", 0.3),)
        make_proposer(config).propose(_ctx(config, champion=CHAMPION, feedback=feedback))
        system, user = server.completion_requests[0].messages
        assert "ts_mean(x: panel, n: int >= 1)" in system["content"]
        assert "- returns" in system["content"]
        assert "rank(returns)" in user["content"]
        assert '"expression": "rank(delta(close, 5))"' in user["content"]
        assert '"score": 0.3' in user["content"]

    def test_prompt_describes_the_users_own_factors(self, make_proposer, server, config) -> None:
        """User templates joined to the library reach the prompt (issue 3, item 7)."""
        template = FactorTemplate(
            name="my_quality_proxy",
            template="rank(ts_mean(returns, {n}))",
            params={"n": ParamRange(5, 60, 20)},
            description="the desk's own smoothed momentum",
        )
        library = default_library().with_templates((template,))
        server.extend([Reply(GOOD), Reply(GOOD)])
        make_proposer(config, library=library).propose(_ctx(config))
        make_proposer(config).propose(_ctx(config))
        with_user, default_only = (r.messages[0]["content"] for r in server.completion_requests)
        assert "my_quality_proxy" in with_user
        assert "my_quality_proxy" not in default_only

    def test_anonymized_request(self, make_proposer, server, make_config) -> None:
        """With llm.anonymize the request holds no ticker or date."""
        config = make_config(anonymize=True)
        server.extend([Reply(GOOD)])
        universe = Universe(("AAPL", "XOM"), "1990-01-02", "2022-12-30", 8000)
        feedback = (Feedback(1, "rank(returns)", "llm", None, "bad on XOM 2008-10-10"),)
        make_proposer(config, universe=universe).propose(_ctx(config, feedback=feedback))
        sent = json.dumps(server.completion_requests[0].body)
        for secret in ("AAPL", "XOM", "1990-01-02", "2022-12-30", "2008-10-10"):
            assert secret not in sent

    def test_empty_reply(self, make_proposer, server, config) -> None:
        """An empty reply is LLMEmptyResponseError (no repair round)."""
        server.extend([Reply("")])
        with pytest.raises(LLMEmptyResponseError):
            make_proposer(config).propose(_ctx(config))
        assert len(server.completion_requests) == 1


class TestRepair:
    def test_unknown_operator_then_success(self, make_proposer, server, config) -> None:
        """The parser's error goes back to the model and the corrected spec is used."""
        server.extend([Reply(UNKNOWN_OP), Reply(GOOD)])
        candidate = make_proposer(config).propose(_ctx(config))
        assert candidate.lineage.params["repair_rounds_used"] == 1
        first, second = server.completion_requests
        assert len(second.messages) == len(first.messages) + 2
        assert second.messages[-2] == {"role": "assistant", "content": UNKNOWN_OP}
        repair = second.messages[-1]["content"]
        assert "ts_meen" in repair
        assert "ts_mean" in repair

    def test_unknown_operator_twice(self, make_proposer, server, config) -> None:
        """Still invalid after the repair round: LLMGenerationError, DSL error chained."""
        server.extend([Reply(UNKNOWN_OP), Reply(UNKNOWN_OP)])
        with pytest.raises(LLMGenerationError, match="after 2 replies") as caught:
            make_proposer(config).propose(_ctx(config))
        assert isinstance(caught.value.__cause__, ExpressionError)
        assert len(server.completion_requests) == 2

    def test_prose_without_spec(self, make_proposer, server, config) -> None:
        """Prose twice: LLMGenerationError saying no JSON object was found."""
        server.extend([Reply("Momentum is great.")] * 2)
        with pytest.raises(LLMGenerationError, match="no JSON object"):
            make_proposer(config).propose(_ctx(config))

    def test_cut_off_reply_says_raise_max_tokens(self, make_proposer, server, config) -> None:
        """A reply cut off at max_tokens says which setting to raise."""
        server.extend([Reply(GOOD[:40], finish_reason="length")] * 2)
        with pytest.raises(LLMGenerationError, match=r"raise llm\.max_tokens"):
            make_proposer(config).propose(_ctx(config))

    def test_repair_rounds_from_config(self, make_proposer, server, make_config) -> None:
        """llm.repair_rounds sets how many corrections are asked for."""
        config = make_config(repair_rounds=0)
        server.extend([Reply(UNKNOWN_OP), Reply(GOOD)])
        with pytest.raises(LLMGenerationError, match="after 1 reply"):
            make_proposer(config).propose(_ctx(config))
        assert len(server.completion_requests) == 1

    def test_smuggled_python(self, make_proposer, server, config, tmp_path: Path) -> None:
        """Replies smuggling Python end as LLMGenerationError and nothing runs."""
        marker = tmp_path / "pwned"
        code = f"__import__('os').system('touch {marker}')"
        server.extend(
            [
                Reply(json.dumps({"expression": code, "portfolio": {"kind": "top_n", "n": 5}})),
                Reply(f"```python\n{code}\n```"),
            ]
        )
        with pytest.raises(LLMGenerationError):
            make_proposer(config).propose(_ctx(config))
        assert not marker.exists()


class TestTransportFailures:
    def test_429_then_success(self, make_proposer, server, config) -> None:
        """A rate limit is waited out and the candidate still comes."""
        server.extend([ErrorStatus(429, headers={"Retry-After": "1"}), Reply(GOOD)])
        candidate = make_proposer(config).propose(_ctx(config))
        assert candidate.lineage.params["http_attempts"] == 2

    def test_500_until_retries_run_out(self, make_proposer, server, config) -> None:
        """Persistent 5xx ends as LLMUnavailableError without the key."""
        server.extend([ErrorStatus(500)] * 3)
        with pytest.raises(LLMUnavailableError) as caught:
            make_proposer(config).propose(_ctx(config))
        assert KEY not in str(caught.value)

    def test_hang_past_timeout(self, make_proposer, server, make_config) -> None:
        """A hanging endpoint ends as LLMUnavailableError within the timeouts."""
        config = make_config(timeout_s=0.3, max_retries=0)
        server.extend([Hang(30.0)])
        started = time.monotonic()
        with pytest.raises(LLMUnavailableError, match="timeout"):
            make_proposer(config).propose(_ctx(config))
        assert time.monotonic() - started < 3.0

    def test_malformed_body(self, make_proposer, server, config) -> None:
        """A body that is not JSON is LLMEmptyResponseError."""
        server.extend([Malformed()])
        with pytest.raises(LLMEmptyResponseError):
            make_proposer(config).propose(_ctx(config))


class TestBudget:
    def test_exhausted_before_the_next_call(self, make_proposer, server, make_config) -> None:
        """Once llm.max_tokens_per_run is spent, the next propose sends nothing."""
        config = make_config(max_tokens_per_run=150)
        server.extend([Reply(GOOD, 100, 50), Reply(GOOD)])
        proposer = make_proposer(config)
        proposer.propose(_ctx(config))
        with pytest.raises(LLMBudgetExhaustedError, match="max_tokens_per_run=150"):
            proposer.propose(_ctx(config))
        assert len(server.completion_requests) == 1

    def test_exhausted_during_repair(self, make_proposer, server, make_config) -> None:
        """A repair round is a call like any other and is refused once the budget is spent."""
        config = make_config(max_tokens_per_run=100)
        server.extend([Reply(UNKNOWN_OP, 80, 20), Reply(GOOD)])
        with pytest.raises(LLMBudgetExhaustedError):
            make_proposer(config).propose(_ctx(config))

    def test_shared_budget(self, make_proposer, server, config) -> None:
        """An injected budget (e.g. resumed with earlier spending) is the one charged."""
        server.extend([Reply(GOOD, 10, 10)])
        budget = TokenBudget(max_tokens=1000)
        proposer = make_proposer(config, budget=budget)
        proposer.propose(_ctx(config))
        assert budget.usage.tokens == 20
        assert proposer.usage is budget.usage


class TestArbitraryReplies:
    @settings(
        max_examples=40,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(
        replies=st.lists(
            st.text(max_size=300) | st.sampled_from([GOOD, UNKNOWN_OP, ""]), min_size=2, max_size=2
        )
    )
    def test_typed_errors_only(self, make_proposer, server, config, replies) -> None:
        """Whatever the endpoint says, the result is a candidate or a typed LLM error, fast."""
        server.extend([Reply(text) for text in replies])
        started = time.monotonic()
        try:
            candidate = make_proposer(config).propose(_ctx(config))
        except LLMError:
            pass
        else:
            assert candidate.method == "llm"
        assert time.monotonic() - started < 5.0
        while server.remaining:
            server._next_step()


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=12,
)
_CHOICE_SHAPED = st.fixed_dictionaries(
    {"choices": st.lists(st.fixed_dictionaries({"message": _JSON}) | _JSON, max_size=2)},
    optional={"usage": _JSON, "model": _JSON},
)
_STEPS = st.one_of(
    st.builds(Reply, st.text(max_size=200) | st.none()),
    st.builds(
        ErrorStatus,
        st.sampled_from([400, 401, 403, 404, 408, 409, 422, 429, 500, 502, 503]),
        st.text(max_size=40),
        st.dictionaries(
            st.sampled_from(["Retry-After", "retry-after-ms"]),
            st.text(alphabet="0123456789.e-+naif", max_size=6),
            max_size=2,
        ),
    ),
    st.builds(
        Malformed, st.text(max_size=100) | _CHOICE_SHAPED.map(json.dumps) | _JSON.map(json.dumps)
    ),
    st.just(NoChoices()),
    st.just(Disconnect()),
    st.just(Hang(5.0)),
)


class TestHostileEndpoint:
    @settings(
        max_examples=60,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(steps=st.lists(_STEPS, min_size=1, max_size=4))
    def test_typed_errors_only(self, make_proposer, server, make_config, steps) -> None:
        """Whatever the endpoint sends back, propose returns a candidate or a typed LLM error."""
        config = make_config(timeout_s=0.2, max_retries=1)
        server.extend(steps)
        started = time.monotonic()
        outcome: Candidate | LLMError
        try:
            outcome = make_proposer(config).propose(_ctx(config))
        except LLMError as exc:
            outcome = exc
        if isinstance(outcome, LLMError):
            assert KEY not in str(outcome)
        else:
            assert outcome.method == "llm"
        assert time.monotonic() - started < 5.0
        while server.remaining:
            server._next_step()
