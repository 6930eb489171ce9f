import dataclasses
import json
from types import MappingProxyType

from stratloop.config.models import GenerationConfig, LLMConfig, StratloopConfig
from stratloop.errors import ExpressionSyntaxError, LLMGenerationError
from stratloop.generation.context import ChampionSnapshot, Feedback, GenerationContext
from stratloop.llm.client import Message
from stratloop.llm.prompts import PromptSettings, Universe, build_messages, repair_messages
from stratloop.spec import Candidate, LongShort, Strategy, TopN

UNIVERSE = Universe(("AAPL", "MSFT", "T", "BRK.B"), "1990-01-02", "2022-12-30", 8000)
EXAMPLE = Strategy(expression="rank(returns)", portfolio=TopN(n=3))
SETTINGS = PromptSettings(
    reference="GRAMMAR: expr := call | field\nOPERATORS: rank(x), ts_mean(x, n)",
    fields=frozenset({"close", "returns"}),
    example=EXAMPLE,
    max_nodes=64,
    max_depth=12,
    max_window=252,
    universe=UNIVERSE,
    field_notes=MappingProxyType({"close": "closing price"}),
)
CHAMPION = ChampionSnapshot(
    candidate=Candidate(
        Strategy(expression="rank(ts_mean(returns, 20))", portfolio=LongShort(quantile=0.2)),
        "factor_graph",
    ),
    metrics=MappingProxyType({"sharpe": 1.23456, "max_drawdown": -0.2}),
)
FEEDBACK = (
    Feedback(3, "rank(delta(close, 5))", "llm", 0.41),
    Feedback(4, "rank(foo(close))", "llm", None, "unknown operator 'foo' on AAPL at 2020-03-16"),
)


def _ctx(*, anonymize: bool, champion=CHAMPION, feedback=FEEDBACK) -> GenerationContext:
    config = StratloopConfig(
        version=1,
        generation=GenerationConfig(use_factor_graph=False, innovation_rate=0),
        llm=LLMConfig(
            enabled=True, base_url="http://127.0.0.1:1/v1", model="m", anonymize=anonymize
        ),
    )
    return GenerationContext.create(config, 5, champion=champion, feedback=feedback)


class TestBuildMessages:
    def test_system_teaches_dsl_fields_and_format(self) -> None:
        """The system message holds the DSL reference, fields, limits and a JSON example."""
        system, user = build_messages(_ctx(anonymize=False), SETTINGS)
        assert (system.role, user.role) == ("system", "user")
        assert "GRAMMAR: expr := call | field" in system.content
        assert "- close: closing price" in system.content
        assert "- returns" in system.content
        assert "at most 64 nodes" in system.content
        example = system.content.split("```json\n")[-1].split("\n```")[0]
        assert Strategy.model_validate(json.loads(example)) == EXAMPLE

    def test_system_states_the_unit_rule(self) -> None:
        """The system message tells the LLM that signals and cross sections must be scale-free."""
        system, _ = build_messages(_ctx(anonymize=False), SETTINGS)
        assert "must be scale-free" in system.content
        assert "rank(close) is rejected" in system.content
        assert "future splits" in system.content

    def test_user_shows_champion_and_feedback(self) -> None:
        """The user message holds the champion's spec, train metrics and recent results only."""
        _, user = build_messages(_ctx(anonymize=False), SETTINGS)
        assert "rank(ts_mean(returns, 20))" in user.content
        assert "Train metrics: " in user.content
        assert "sharpe 1.235" in user.content
        assert "Test metrics" not in user.content
        assert "Validation" not in user.content
        assert '{"expression": "rank(delta(close, 5))", "method": "llm", "score": 0.41' in (
            user.content
        )
        assert "unknown operator 'foo'" in user.content
        assert "AAPL, MSFT, T, BRK.B" in user.content
        assert "1990-01-02" in user.content

    def test_first_iteration(self) -> None:
        """Without champion or feedback the prompt says so."""
        _, user = build_messages(_ctx(anonymize=False, champion=None, feedback=()), SETTINGS)
        assert "None yet: this is the first strategy" in user.content

    def test_anonymize_hides_tickers_and_dates(self) -> None:
        """With llm.anonymize no ticker or calendar date appears anywhere."""
        messages = build_messages(_ctx(anonymize=True), SETTINGS)
        text = "\n".join(m.content for m in messages)
        for secret in ("AAPL", "MSFT", "BRK.B", "1990-01-02", "2022-12-30", "2020-03-16"):
            assert secret not in text
        assert "4 equities (names hidden)" in text
        assert "<asset> at <date>" in text

    def test_anonymize_keeps_field_names(self) -> None:
        """Anonymising does not touch expressions' field and operator names."""
        _, user = build_messages(_ctx(anonymize=True), SETTINGS)
        assert "rank(delta(close, 5))" in user.content

    def test_feedback_is_bounded(self) -> None:
        """Only the most recent max_feedback results are shown."""
        many = tuple(Feedback(i, f"rank(delay(returns, {i}))", "llm", 0.1) for i in range(1, 30))
        settings = dataclasses.replace(SETTINGS, max_feedback=3)
        _, user = build_messages(_ctx(anonymize=False, feedback=many), settings)
        assert "delay(returns, 29)" in user.content
        assert "delay(returns, 27)" in user.content
        assert "delay(returns, 26)" not in user.content

    def test_no_template_injection(self) -> None:
        """Template markers inside shown data are shown verbatim, not substituted."""
        feedback = (Feedback(1, "rank(returns) $reference ${fields} {{ x }}", "llm", 0.0),)
        _, user = build_messages(_ctx(anonymize=False, feedback=feedback), SETTINGS)
        assert "$reference ${fields} {{ x }}" in user.content


class TestRepairMessages:
    def test_appends_reply_and_error(self) -> None:
        """The rejected reply and the parser's error (with its cause) are sent back."""
        base = (Message("system", "s"), Message("user", "u"))
        error = LLMGenerationError("the expression is not valid")
        error.__cause__ = ExpressionSyntaxError("unknown operator 'foo'", expression="foo(close)")
        messages = repair_messages(base, '{"expression": "foo(close)"}', error)
        assert messages[:2] == base
        assert messages[2] == Message("assistant", '{"expression": "foo(close)"}')
        assert messages[3].role == "user"
        assert "the expression is not valid" in messages[3].content
        assert "ExpressionSyntaxError: unknown operator 'foo'" in messages[3].content

    def test_long_reply_is_truncated(self) -> None:
        """A huge rejected reply is not sent back whole."""
        messages = repair_messages((), "x" * 50_000, LLMGenerationError("too long"))
        assert len(messages[0].content) < 5_000
