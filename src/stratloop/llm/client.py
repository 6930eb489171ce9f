"""The LLM client: any OpenAI-compatible Chat Completions endpoint, via the official package.

The ``openai`` package does the HTTP; this module adds what a days-long run
needs around it: bounded retries with exponential backoff and seeded jitter on
429 / 408 / 5xx / connection errors / timeouts (honouring ``Retry-After`` up
to a cap), errors mapped into :mod:`stratloop.errors` with messages that name
the endpoint, the model and the fix, token accounting against the run's
:class:`~stratloop.llm.budget.TokenBudget`, and an API key that never appears
in a message, a log line or a repr.
"""

from __future__ import annotations

import dataclasses
import email.utils
import ipaddress
import math
import os
import random
import time
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Self

import openai

from stratloop.config.models import LLMConfig
from stratloop.errors import (
    ConfigIssue,
    ConfigValidationError,
    LLMEmptyResponseError,
    LLMUnavailableError,
)
from stratloop.llm.budget import TokenBudget
from stratloop.redaction import redact_text

__all__ = [
    "PLACEHOLDER_API_KEY",
    "Completion",
    "Constraint",
    "LLMClient",
    "Message",
    "RetryPolicy",
    "Route",
]

PLACEHOLDER_API_KEY = "not-needed"
"""Sent to a loopback endpoint when ``llm.api_key_env`` names an unset variable."""

_RETRIABLE_STATUS = frozenset({408, 409, 429})
_AUTH_STATUS = frozenset({401, 403})
_CHARS_PER_TOKEN = 4
_EXCERPT = 200


@dataclass(frozen=True, slots=True)
class Message:
    """One chat message."""

    role: Literal["system", "user", "assistant"]
    content: str


@dataclass(frozen=True, slots=True)
class Constraint:
    """What a request constrains the reply to, in the field each server reads.

    Args:
        kind: ``json_schema`` (sent as ``response_format``, understood by
            OpenAI, vLLM, llama.cpp, Ollama) or ``grammar`` (a GBNF text in
            llama.cpp's ``grammar`` field).
        schema: the JSON schema, for ``json_schema``.
        grammar: the GBNF text, for ``grammar``.
        name: the schema's name in ``response_format``.
    """

    kind: Literal["json_schema", "grammar"]
    schema: Mapping[str, Any] | None = None
    grammar: str | None = None
    name: str = "strategy"

    def request_fields(self) -> dict[str, Any]:
        """The keyword arguments for ``chat.completions.create``."""
        if self.kind == "grammar":
            return {"extra_body": {"grammar": self.grammar}}
        schema = dict(self.schema or {})
        return {
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": self.name, "schema": schema},
            }
        }


@dataclass(frozen=True, slots=True)
class Route:
    """Which model a call asks, and where: an ensemble member, or ``llm.model``.

    Args:
        model: the model name.
        base_url: its endpoint; None means ``llm.base_url``.
        cost_per_1k_tokens: its price; None means ``llm.cost_per_1k_tokens``.
    """

    model: str
    base_url: str | None = None
    cost_per_1k_tokens: float | None = None


@dataclass(frozen=True, slots=True)
class Completion:
    """One reply and what it cost.

    Args:
        text: the assistant's content, never empty.
        prompt_tokens: tokens of the request (estimated if the endpoint did not report usage).
        completion_tokens: tokens of the reply (same).
        model: the model that answered, as the endpoint reported it.
        attempts: HTTP attempts made, 1 when the first one succeeded.
        finish_reason: why the model stopped (``stop``, ``length`` …), if reported.
        usage_estimated: True when the endpoint reported no usage.
        latency_s: wall time of the call, retries included.
    """

    text: str
    prompt_tokens: int
    completion_tokens: int
    model: str
    attempts: int
    finish_reason: str | None = None
    usage_estimated: bool = False
    latency_s: float = 0.0

    @property
    def tokens(self) -> int:
        """Prompt plus completion tokens."""
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How failed attempts are retried; the number of retries is ``llm.max_retries``.

    The delay before retry ``k`` (from 0) is ``min(max_delay_s, base_delay_s *
    2**k)`` scaled by a jitter factor in ``[0.5, 1)`` drawn from a generator
    seeded with ``jitter_seed``, so runs are reproducible. A ``Retry-After``
    (or ``retry-after-ms``) header raises the delay to what the server asked;
    a request to wait longer than ``max_retry_after_s`` fails at once rather
    than stall the run.
    """

    base_delay_s: float = 0.5
    max_delay_s: float = 8.0
    max_retry_after_s: float = 60.0
    jitter_seed: int = 0

    def delay(self, retry: int, retry_after: float | None, rng: random.Random) -> float:
        """The pause before retry number ``retry`` (from 0)."""
        backoff = min(self.max_delay_s, self.base_delay_s * 2.0**retry)
        jittered = backoff * (0.5 + 0.5 * rng.random())
        return jittered if retry_after is None else max(jittered, retry_after)


class _Secret:
    """A string that never shows itself in a repr."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "_Secret('***')"


@dataclass(frozen=True, slots=True)
class _Retry:
    """A failed attempt that may be retried."""

    problem: str
    retry_after: float | None = None


class LLMClient:
    """Chat completions against ``llm.base_url`` with ``llm.model``.

    Args:
        config: the ``llm`` section; ``base_url`` and ``model`` must be set.
        environ: where to read the variable ``llm.api_key_env`` names
            (default: the process environment). When it is unset or empty and
            the endpoint is on loopback (Ollama, llama.cpp, vLLM on this
            machine), the placeholder ``"not-needed"`` is sent; for any other
            host a missing key is an error.
        retry: backoff and jitter of the retries.
        sleep: how to wait between attempts (injectable so tests need not wait).

    Raises:
        ConfigValidationError: ``base_url`` or ``model`` is unset or not usable.
        LLMUnavailableError: a remote endpoint and no key in the environment.
    """

    def __init__(
        self,
        config: LLMConfig,
        *,
        environ: Mapping[str, str] | None = None,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = config
        self.base_url = _checked_base_url(config.base_url)
        self.model = _checked_model(config.model)
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self._rng = random.Random(self.retry.jitter_seed)  # noqa: S311 - jitter, not security
        env = os.environ if environ is None else environ
        key = env.get(config.api_key_env, "")
        if key:
            self.key_source = f"environment variable {config.api_key_env}"
        elif _is_loopback(self.base_url):
            key = PLACEHOLDER_API_KEY
            self.key_source = (
                f"placeholder {PLACEHOLDER_API_KEY!r} ({config.api_key_env} is unset "
                "and the endpoint is on loopback)"
            )
        else:
            raise LLMUnavailableError(
                f"no API key for the LLM endpoint {self.base_url} (model {self.model}): "
                f"the environment variable {config.api_key_env} (llm.api_key_env) is not set; "
                f"export {config.api_key_env}=<your key>, or, for an endpoint without "
                f"authentication, export {config.api_key_env}={PLACEHOLDER_API_KEY}"
            )
        self._key = _Secret(key)
        self._openai = self._open(self.base_url)
        self._endpoints: dict[str, openai.OpenAI] = {self.base_url: self._openai}
        for choice in config.models:
            if choice.base_url is not None:
                url = _checked_base_url(choice.base_url)
                self._endpoints.setdefault(url, self._open(url))

    def _open(self, base_url: str) -> openai.OpenAI:
        return openai.OpenAI(
            base_url=base_url,
            api_key=self._key.reveal(),
            timeout=self.config.timeout_s,
            max_retries=0,
        )

    def complete(
        self,
        messages: Sequence[Message],
        *,
        budget: TokenBudget | None = None,
        constraint: Constraint | None = None,
        route: Route | None = None,
        max_tokens: int | None = None,
    ) -> Completion:
        """Send ``messages`` and return the reply.

        Args:
            messages: the conversation, oldest first.
            budget: checked before the request and charged with the reply's usage
                (also when the reply turns out empty: the tokens were spent).
            constraint: a JSON schema or grammar the reply must follow.
            route: the model (and endpoint) to ask; None asks ``llm.model``.
            max_tokens: the reply's token bound; None uses ``llm.max_tokens``.

        Raises:
            LLMBudgetExhaustedError: the budget was already spent; nothing was sent.
            LLMUnavailableError: unreachable, timed out, rejected the key or the
                request, or still failing after ``llm.max_retries`` retries.
            LLMEmptyResponseError: the endpoint answered with no usable content.
        """
        if budget is not None:
            budget.check()
        payload: list[Any] = [{"role": m.role, "content": m.content} for m in messages]
        request: dict[str, Any] = {
            "model": self.model if route is None else route.model,
            "messages": payload,
            "temperature": self.config.temperature,
            "max_tokens": self.config.max_tokens if max_tokens is None else max_tokens,
            **(constraint.request_fields() if constraint is not None else {}),
        }
        endpoint = self._openai
        if route is not None and route.base_url is not None:
            endpoint = self._endpoints[_checked_base_url(route.base_url)]
        price = None if route is None else route.cost_per_1k_tokens
        retries = self.config.max_retries
        failure = _Retry("no attempt was made")
        started = time.perf_counter()
        for attempt in range(retries + 1):
            outcome = self._attempt(endpoint, request)
            if not isinstance(outcome, _Retry):
                done = self._completion(outcome, messages, attempt + 1, budget, price)
                return dataclasses.replace(done, latency_s=time.perf_counter() - started)
            failure = outcome
            if attempt < retries:
                self._pause(attempt, outcome)
        raise self._unavailable(
            f"still failing after {retries + 1} attempt{'s' * (retries != 0)} "
            f"({failure.problem})",
            f"check that the endpoint is up and not overloaded, or raise llm.max_retries "
            f"(now {retries}) / llm.timeout_s (now {self.config.timeout_s:g})",
        )

    def models(self) -> tuple[str, ...]:
        """The model ids the endpoint lists (one attempt): a cheap reachability check."""
        try:
            page = self._openai.models.list()
            return tuple(str(m.id) for m in page.data)
        except openai.APIStatusError as exc:
            problem = f"answered HTTP {exc.status_code} to GET /models"
            raise self._unavailable(problem, _fix_for(exc, self)) from None
        except openai.APIConnectionError as exc:
            problem = _connection_problem(exc, self)
            raise self._unavailable(problem, "check llm.base_url and that it runs") from None

    def describe(self) -> dict[str, str]:
        """A redacted description for logs and run records (never the key)."""
        return {
            "base_url": self.base_url,
            "model": self.model,
            "api_key_env": self.config.api_key_env,
            "key_source": self.key_source,
        }

    def close(self) -> None:
        """Close the HTTP connections."""
        for endpoint in self._endpoints.values():
            endpoint.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"LLMClient(base_url={self.base_url!r}, model={self.model!r}, "
            f"api_key_env={self.config.api_key_env!r})"
        )

    def _attempt(self, endpoint: openai.OpenAI, request: Mapping[str, Any]) -> Any:
        """One HTTP attempt: the response, a :class:`_Retry`, or a final error."""
        try:
            return endpoint.chat.completions.create(**request)
        except openai.APIStatusError as exc:
            status = exc.status_code
            if status in _AUTH_STATUS:
                raise self._unavailable(
                    f"rejected the API key (HTTP {status}: {self._excerpt(exc)})",
                    f"set a valid key in the environment variable {self.config.api_key_env} "
                    "(llm.api_key_env)",
                ) from None
            if status in _RETRIABLE_STATUS or status >= 500:
                return _Retry(
                    f"HTTP {status}: {self._excerpt(exc)}", _retry_after(exc.response.headers)
                )
            problem = f"rejected the request (HTTP {status}: {self._excerpt(exc)})"
            fix = _fix_for(exc, self)
            if "response_format" in request or "extra_body" in request:
                fix += (
                    f"; it may not accept llm.structured_output={self.config.structured_output}:"
                    " set it to auto (probe what the endpoint honours) or none"
                )
            raise self._unavailable(problem, fix) from None
        except openai.APITimeoutError:
            return _Retry(f"no reply within llm.timeout_s={self.config.timeout_s:g}s")
        except openai.APIConnectionError as exc:
            return _Retry(_connection_problem(exc, self))
        except (ValueError, openai.APIResponseValidationError) as exc:
            raise LLMEmptyResponseError(
                f"the LLM endpoint {self.base_url} (model {self.model}) answered with a body "
                f"that is not a chat completion ({self._redact(str(exc))[:_EXCERPT]}); "
                "check that llm.base_url points at an OpenAI-compatible /v1 endpoint"
            ) from None

    def _pause(self, retry: int, failure: _Retry) -> None:
        if failure.retry_after is not None and failure.retry_after > self.retry.max_retry_after_s:
            raise self._unavailable(
                f"asked to retry after {failure.retry_after:g}s ({failure.problem}), longer "
                f"than the cap of {self.retry.max_retry_after_s:g}s",
                "the endpoint is rate limiting: lower the request rate or use a higher tier",
            )
        self._sleep(self.retry.delay(retry, failure.retry_after, self._rng))

    def _completion(
        self,
        response: Any,
        messages: Sequence[Message],
        attempts: int,
        budget: TokenBudget | None,
        price: float | None = None,
    ) -> Completion:
        choices = getattr(response, "choices", None)
        choice = choices[0] if isinstance(choices, list) and choices else None
        message = getattr(choice, "message", None)
        content = getattr(message, "content", None)
        text = content if isinstance(content, str) else ""
        finish = getattr(choice, "finish_reason", None)
        usage = getattr(response, "usage", None)
        prompt_tokens = getattr(usage, "prompt_tokens", None)
        completion_tokens = getattr(usage, "completion_tokens", None)
        estimated = not (isinstance(prompt_tokens, int) and isinstance(completion_tokens, int))
        if estimated:
            prompt_tokens = _estimate(sum(len(m.content) for m in messages))
            completion_tokens = _estimate(len(text))
        assert isinstance(prompt_tokens, int)
        assert isinstance(completion_tokens, int)
        if budget is not None:
            budget.record(
                prompt_tokens, completion_tokens, estimated=estimated, cost_per_1k_tokens=price
            )
        if choice is None:
            raise LLMEmptyResponseError(
                f"the LLM endpoint {self.base_url} (model {self.model}) returned no choices; "
                "check that the model exists and is served there"
            )
        if not text.strip():
            raise LLMEmptyResponseError(
                f"the LLM endpoint {self.base_url} (model {self.model}) returned an empty reply "
                f"(finish_reason {finish!r}); if it is 'length', raise llm.max_tokens "
                f"(now {self.config.max_tokens})"
            )
        return Completion(
            text=text,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            model=str(getattr(response, "model", None) or self.model),
            attempts=attempts,
            finish_reason=finish if isinstance(finish, str) else None,
            usage_estimated=estimated,
        )

    def _unavailable(self, problem: str, fix: str) -> LLMUnavailableError:
        return LLMUnavailableError(
            self._redact(f"the LLM endpoint {self.base_url} (model {self.model}) {problem}; {fix}")
        )

    def _excerpt(self, exc: openai.APIStatusError) -> str:
        body = exc.body
        message = body.get("message") if isinstance(body, dict) else None
        text = message if isinstance(message, str) else exc.response.text
        return self._redact(" ".join(text.split()))[:_EXCERPT] or "no body"

    def _redact(self, text: str) -> str:
        key = self._key.reveal() if hasattr(self, "_key") else ""
        return redact_text(text, () if key == PLACEHOLDER_API_KEY else (key,))


def _checked_base_url(base_url: str | None) -> str:
    allowed = "an http(s) URL of an OpenAI-compatible endpoint, e.g. http://127.0.0.1:11434/v1"
    if base_url is None:
        raise ConfigValidationError([ConfigIssue("llm.base_url", None, allowed)])
    parts = urllib.parse.urlsplit(base_url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ConfigValidationError([ConfigIssue("llm.base_url", base_url, allowed)])
    return base_url.rstrip("/")


def _checked_model(model: str | None) -> str:
    if model is None or not model.strip():
        allowed = "the model name the endpoint serves, e.g. gpt-4o-mini or llama3.1:8b"
        raise ConfigValidationError([ConfigIssue("llm.model", model, allowed)])
    return model


def _is_loopback(base_url: str) -> bool:
    host = urllib.parse.urlsplit(base_url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds the server asked to wait: ``retry-after-ms``, or ``Retry-After`` seconds or date."""
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            value = float(millis) / 1000.0
        except ValueError:
            value = math.nan
        if math.isfinite(value) and value >= 0:
            return value
    raw = headers.get("retry-after")
    if raw is None:
        return None
    try:
        seconds = float(raw)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(raw)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - time.time()
    return max(0.0, seconds) if math.isfinite(seconds) else None


def _connection_problem(exc: openai.APIConnectionError, client: LLMClient) -> str:
    cause = exc.__cause__
    detail = f": {cause}" if cause is not None and str(cause) else ""
    return client._redact(f"cannot be reached (connection error{detail})")  # noqa: SLF001


def _fix_for(exc: openai.APIStatusError, client: LLMClient) -> str:
    if exc.status_code == 404:
        return (
            f"check llm.base_url (most endpoints end in /v1) and that model {client.model!r} "
            "is served there"
        )
    return "check llm.model, llm.max_tokens and llm.temperature against the endpoint's limits"


def _estimate(chars: int) -> int:
    return max(1, math.ceil(chars / _CHARS_PER_TOKEN))
