import email.utils
import random
import time
from collections.abc import Callable, Iterator

import pytest
from hypothesis import given
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
from stratloop.config.models import LLMConfig
from stratloop.errors import (
    ConfigValidationError,
    LLMBudgetExhaustedError,
    LLMEmptyResponseError,
    LLMUnavailableError,
)
from stratloop.llm.budget import TokenBudget
from stratloop.llm.client import (
    PLACEHOLDER_API_KEY,
    LLMClient,
    Message,
    RetryPolicy,
    _retry_after,
)

KEY = "sk-test-DO-NOT-LEAK-4f9a2c"

ASK = (Message("system", "you write strategies"), Message("user", "one please"))


@pytest.fixture
def make_client() -> Iterator[Callable[..., LLMClient]]:
    """Build clients with the test key and a recording sleep; close them afterwards."""
    clients: list[LLMClient] = []

    def build(config: LLMConfig, sleeps: list[float] | None = None, **kwargs) -> LLMClient:
        record = sleeps if sleeps is not None else []
        client = LLMClient(config, environ={"TEST_LLM_KEY": KEY}, sleep=record.append, **kwargs)
        clients.append(client)
        return client

    yield build
    for client in clients:
        client.close()


class TestComplete:
    def test_good_reply(self, make_client, server: ScriptedOpenAIServer, make_config) -> None:
        """A scripted reply comes back with its text, usage, model and one attempt."""
        server.extend([Reply("hello", prompt_tokens=11, completion_tokens=7)])
        completion = make_client(make_config()).complete(ASK)
        assert completion.text == "hello"
        assert (completion.prompt_tokens, completion.completion_tokens) == (11, 7)
        assert completion.model == "scripted-model"
        assert completion.attempts == 1
        assert not completion.usage_estimated

    def test_sends_model_messages_and_settings(self, make_client, server, make_config) -> None:
        """The request carries the configured model, messages, temperature and max_tokens."""
        server.extend([Reply("ok")])
        make_client(make_config(temperature=0.2, max_tokens=77)).complete(ASK)
        (request,) = server.completion_requests
        assert request.body is not None
        assert request.body["model"] == "scripted-model"
        assert request.body["temperature"] == 0.2
        assert request.body["max_tokens"] == 77
        assert [m["role"] for m in request.messages] == ["system", "user"]
        assert request.authorized

    @pytest.mark.parametrize("content", ["", None, "   \n\t "])
    def test_empty_reply(self, make_client, server, make_config, content) -> None:
        """Empty, null or blank content is LLMEmptyResponseError, not retried."""
        server.extend([Reply(content)])
        with pytest.raises(LLMEmptyResponseError, match="empty reply"):
            make_client(make_config()).complete(ASK)
        assert len(server.completion_requests) == 1

    def test_no_choices(self, make_client, server, make_config) -> None:
        """A completion without choices is LLMEmptyResponseError."""
        server.extend([NoChoices()])
        with pytest.raises(LLMEmptyResponseError, match="no choices"):
            make_client(make_config()).complete(ASK)

    @pytest.mark.parametrize("body", ['{"choices": [ {"message": ', "[1, 2]", "<html>oops</html>"])
    def test_malformed_body(self, make_client, server, make_config, body) -> None:
        """A body that is not a chat completion is LLMEmptyResponseError naming the endpoint."""
        server.extend([Malformed(body)])
        with pytest.raises(LLMEmptyResponseError, match=server.base_url):
            make_client(make_config()).complete(ASK)

    def test_missing_usage_is_estimated(self, make_client, server, make_config) -> None:
        """Without reported usage the tokens are estimated and flagged as such."""
        server.extend([Reply("x" * 40, report_usage=False)])
        completion = make_client(make_config()).complete(ASK)
        assert completion.usage_estimated
        assert completion.completion_tokens == 10
        assert completion.prompt_tokens > 0


class TestRetries:
    def test_429_then_success_honours_retry_after(self, make_client, server, make_config) -> None:
        """A 429 is retried after at least the Retry-After the server asked for."""
        server.extend([ErrorStatus(429, "slow down", {"Retry-After": "3"}), Reply("ok")])
        sleeps: list[float] = []
        completion = make_client(make_config(), sleeps).complete(ASK)
        assert completion.text == "ok"
        assert completion.attempts == 2
        assert len(sleeps) == 1
        assert sleeps[0] >= 3.0

    def test_retry_after_ms(self, make_client, server, make_config) -> None:
        """OpenAI's retry-after-ms header is honoured too."""
        server.extend([ErrorStatus(503, headers={"retry-after-ms": "2500"}), Reply("ok")])
        sleeps: list[float] = []
        make_client(make_config(), sleeps, retry=RetryPolicy(base_delay_s=0.01)).complete(ASK)
        assert sleeps == [2.5]

    def test_500_until_retries_run_out(self, make_client, server, make_config) -> None:
        """5xx is retried max_retries times with growing delays, then LLMUnavailableError."""
        server.extend([ErrorStatus(500, "boom")] * 4)
        sleeps: list[float] = []
        with pytest.raises(LLMUnavailableError, match="after 4 attempts") as caught:
            make_client(make_config(max_retries=3), sleeps).complete(ASK)
        assert len(server.completion_requests) == 4
        assert len(sleeps) == 3
        assert 0.25 <= sleeps[0] <= 0.5
        assert 1.0 <= sleeps[2] <= 2.0
        message = str(caught.value)
        assert server.base_url in message
        assert "scripted-model" in message
        assert "HTTP 500: boom" in message
        assert "llm.max_retries" in message

    def test_jitter_is_reproducible(self, make_client, server, make_config) -> None:
        """The same jitter seed gives the same delays."""
        runs = []
        for _ in range(2):
            server.extend([ErrorStatus(502)] * 3)
            sleeps: list[float] = []
            with pytest.raises(LLMUnavailableError):
                make_client(make_config(), sleeps, retry=RetryPolicy(jitter_seed=7)).complete(ASK)
            runs.append(sleeps)
        assert runs[0] == runs[1]

    def test_hang_past_timeout(self, make_client, server, make_config) -> None:
        """A reply that never comes ends as LLMUnavailableError after llm.timeout_s."""
        server.extend([Hang(30.0), Hang(30.0)])
        started = time.monotonic()
        with pytest.raises(LLMUnavailableError, match=r"no reply within llm.timeout_s=0.3s"):
            make_client(make_config(timeout_s=0.3, max_retries=1)).complete(ASK)
        assert time.monotonic() - started < 3.0

    def test_dropped_connection_is_retried(self, make_client, server, make_config) -> None:
        """A connection closed without a response is retried like any connection error."""
        server.extend([Disconnect(), Reply("ok")])
        assert make_client(make_config()).complete(ASK).attempts == 2

    def test_unreachable(self, make_client, make_config) -> None:
        """Nothing listening: LLMUnavailableError naming the URL, after the retries."""
        with ScriptedOpenAIServer() as gone:
            url = gone.base_url
        with pytest.raises(LLMUnavailableError, match="cannot be reached") as caught:
            make_client(make_config(base_url=url, max_retries=1)).complete(ASK)
        assert url in str(caught.value)

    def test_retry_after_over_cap_fails_at_once(self, make_client, server, make_config) -> None:
        """A Retry-After longer than the cap fails now instead of stalling the run."""
        server.extend([ErrorStatus(429, headers={"Retry-After": "3600"}), Reply("never")])
        sleeps: list[float] = []
        with pytest.raises(LLMUnavailableError, match="3600s"):
            make_client(make_config(), sleeps).complete(ASK)
        assert sleeps == []
        assert server.remaining == 1

    @pytest.mark.parametrize("status", [400, 404, 422])
    def test_client_errors_are_not_retried(self, make_client, server, make_config, status) -> None:
        """A 4xx other than 408/409/429 is final: retrying cannot fix the request."""
        server.extend([ErrorStatus(status, "bad model")])
        with pytest.raises(LLMUnavailableError, match=f"HTTP {status}: bad model"):
            make_client(make_config()).complete(ASK)
        assert len(server.completion_requests) == 1


class TestKeys:
    def test_401_names_the_variable_not_the_key(self, make_client, server, make_config) -> None:
        """401 is final; the message names llm.api_key_env and never the key, even if echoed."""
        server.extend([ErrorStatus(401, f"Incorrect API key provided: {KEY}")])
        with pytest.raises(LLMUnavailableError, match="TEST_LLM_KEY") as caught:
            make_client(make_config()).complete(ASK)
        assert KEY not in str(caught.value)
        assert caught.value.__cause__ is None
        assert "<redacted>" in str(caught.value)
        assert len(server.completion_requests) == 1

    def test_key_never_in_errors_or_reprs(self, make_client, server, make_config) -> None:
        """The key is absent from retry errors, repr and describe()."""
        server.extend([ErrorStatus(500, f"echo {KEY}")] * 3)
        client = make_client(make_config())
        with pytest.raises(LLMUnavailableError) as caught:
            client.complete(ASK)
        texts = [str(caught.value), repr(caught.value), repr(client), str(client.describe())]
        texts += [repr(value) for value in vars(client).values()]
        assert all(KEY not in text for text in texts)

    def test_loopback_without_key_sends_placeholder(self, make_config) -> None:
        """A loopback endpoint with the variable unset gets the documented placeholder."""
        client = LLMClient(make_config(), environ={})
        client.close()
        assert PLACEHOLDER_API_KEY in client.key_source
        assert "TEST_LLM_KEY" in client.key_source

    def test_remote_without_key_is_an_error(self) -> None:
        """A remote endpoint with the variable unset fails at construction, naming it."""
        config = LLMConfig(
            base_url="https://api.example.invalid/v1", model="m", api_key_env="MY_KEY"
        )
        with pytest.raises(LLMUnavailableError, match="MY_KEY"):
            LLMClient(config, environ={})

    @pytest.mark.parametrize(
        ("field", "value"),
        [("base_url", None), ("base_url", "ftp://x/v1"), ("base_url", "nohost"), ("model", None)],
    )
    def test_unusable_config(self, field, value) -> None:
        """An unset or unusable base_url / model is a ConfigValidationError naming the field."""
        values = {"base_url": "http://127.0.0.1:1/v1", "model": "m", field: value}
        with pytest.raises(ConfigValidationError, match=f"llm.{field}"):
            LLMClient(LLMConfig(**values), environ={})


class TestBudgetInClient:
    def test_usage_is_charged(self, make_client, server, make_config) -> None:
        """Each reply's usage is added to the budget."""
        server.extend([Reply("a", 10, 5), Reply("b", 20, 5)])
        budget = TokenBudget(max_tokens=1000)
        client = make_client(make_config())
        client.complete(ASK, budget=budget)
        client.complete(ASK, budget=budget)
        assert budget.usage.tokens == 40
        assert budget.usage.calls == 2

    def test_empty_reply_is_charged(self, make_client, server, make_config) -> None:
        """An empty reply still spent its tokens."""
        server.extend([Reply("", 30, 0)])
        budget = TokenBudget()
        with pytest.raises(LLMEmptyResponseError):
            make_client(make_config()).complete(ASK, budget=budget)
        assert budget.usage.tokens == 30

    def test_exhausted_budget_sends_nothing(self, make_client, server, make_config) -> None:
        """Once spent, the next call fails before any request."""
        server.extend([Reply("a", 60, 40), Reply("b")])
        budget = TokenBudget(max_tokens=100)
        client = make_client(make_config())
        client.complete(ASK, budget=budget)
        with pytest.raises(LLMBudgetExhaustedError, match="max_tokens_per_run=100"):
            client.complete(ASK, budget=budget)
        assert len(server.completion_requests) == 1


class TestModels:
    def test_lists_models(self, make_client, make_config) -> None:
        """models() returns the endpoint's model ids."""
        assert make_client(make_config()).models() == ("scripted-model",)


class TestRetryPolicy:
    @given(
        retry=st.integers(0, 30),
        retry_after=st.none() | st.floats(0, 100),
        seed=st.integers(0, 2**32),
    )
    def test_delay_bounds(self, retry, retry_after, seed) -> None:
        """The delay is the jittered, capped backoff, raised to any Retry-After."""
        policy = RetryPolicy(base_delay_s=0.5, max_delay_s=8.0)
        delay = policy.delay(retry, retry_after, random.Random(seed))  # noqa: S311 - jitter
        backoff = min(8.0, 0.5 * 2.0**retry)
        assert delay >= 0.5 * backoff
        if retry_after is None:
            assert delay <= backoff
        else:
            assert delay >= retry_after
            assert delay <= max(backoff, retry_after)


class TestRetryAfterHeader:
    @pytest.mark.parametrize(
        ("headers", "expected"),
        [
            ({"retry-after": "7"}, 7.0),
            ({"retry-after": "1.5"}, 1.5),
            ({"retry-after-ms": "250"}, 0.25),
            ({"retry-after-ms": "junk", "retry-after": "2"}, 2.0),
            ({"retry-after": "soon"}, None),
            ({"retry-after": "-5"}, 0.0),
            ({}, None),
        ],
    )
    def test_parse(self, headers, expected) -> None:
        """Seconds, milliseconds and junk are read as documented."""
        assert _retry_after(headers) == expected

    def test_http_date(self) -> None:
        """An HTTP date in the future becomes the seconds until then."""
        when = email.utils.formatdate(time.time() + 30, usegmt=True)
        value = _retry_after({"retry-after": when})
        assert value is not None
        assert 25 <= value <= 31
