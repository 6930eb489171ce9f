"""A real OpenAI-compatible HTTP server on 127.0.0.1 that serves scripted replies.

Operators use it to rehearse the deployment guide's checks on staging without
spending money or depending on a model's mood; the test suite uses it to drive
the real ``openai`` client through every failure the loop must survive. It
speaks the Chat Completions protocol (``POST /v1/chat/completions``,
``GET /v1/models``) and answers each completion request with the next step of
its script: content, an empty reply, an HTTP error, a hang, a malformed body or
a dropped connection. Every request it receives is recorded.

It checks structured-output requests as real servers do. A ``grammar`` (GBNF,
llama.cpp's field) that does not parse gets HTTP 400, and so does a malformed
``response_format``. With ``grammar="reject"`` (OpenAI) any grammar gets 400;
with ``"ignore"`` (servers that drop unknown fields) it is accepted and has no
effect. When a constraint is enforced, a scripted reply that breaks it is a
500 naming the script's mistake (a constrained server could not have sent
it), and a :class:`Sampled` step answers with a string drawn from the
request's grammar, as a grammar-constrained model would.

``python -m stratloop.acceptance.llm_server SCRIPT.yaml`` serves a script
file: a mapping with ``steps`` (a list) and optional ``model`` and ``cycle``;
each step has exactly one of the keys ``reply``, ``empty``, ``no_choices``,
``status``, ``hang``, ``malformed``, ``disconnect``::

    model: scripted-model
    cycle: true
    steps:
      - status: 429
        retry_after: 1
      - reply: '{"expression": "rank(returns)", "portfolio": {"kind": "top_n", "n": 5}}'
      - hang: 90

>>> with ScriptedOpenAIServer([Reply("hello")]) as server:
...     server.base_url.startswith("http://127.0.0.1:")
True
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, Literal, Self, TypeAlias

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from stratloop.acceptance.gbnf import Grammar, GrammarError, parse_gbnf
from stratloop.errors import ConfigFileError, StratloopError

Constraint: TypeAlias = Literal["enforce", "reject", "ignore"]
"""What the server does with a structured-output request field."""

__all__ = [
    "Disconnect",
    "ErrorStatus",
    "Hang",
    "Malformed",
    "NoChoices",
    "RecordedRequest",
    "Reply",
    "Sampled",
    "ScriptFile",
    "ScriptStep",
    "ScriptedOpenAIServer",
    "load_script",
    "main",
    "scripted_specs",
]

_MAX_BODY = 8 * 1024 * 1024
_WINDOWS = (5, 10, 20, 40, 60, 120)


@dataclass(frozen=True, slots=True)
class Reply:
    """A successful completion whose message content is ``content`` (None sends ``null``).

    Args:
        content: the assistant's text; ``""`` or None make an empty reply.
        prompt_tokens: usage reported for the prompt.
        completion_tokens: usage reported for the reply.
        report_usage: False leaves ``usage`` out, as some local servers do.
        finish_reason: the choice's finish reason.
    """

    content: str | None
    prompt_tokens: int = 100
    completion_tokens: int = 50
    report_usage: bool = True
    finish_reason: str = "stop"


@dataclass(frozen=True, slots=True)
class NoChoices:
    """A 200 response whose ``choices`` list is empty."""


@dataclass(frozen=True, slots=True)
class ErrorStatus:
    """An HTTP error status with a JSON error body and optional headers (e.g. Retry-After)."""

    code: int
    message: str = "scripted error"
    headers: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True, slots=True)
class Hang:
    """Hold the request open for ``seconds`` (or until the server stops), then reply."""

    seconds: float
    then: Reply = Reply("{}")


@dataclass(frozen=True, slots=True)
class Malformed:
    """A 200 response whose body is ``body`` verbatim, declared as JSON."""

    body: str = '{"choices": [ {"message": '


@dataclass(frozen=True, slots=True)
class Disconnect:
    """Close the connection without sending any response."""


@dataclass(frozen=True, slots=True)
class Sampled:
    """A reply drawn from the request's grammar with a generator seeded by ``seed``.

    ``brevity`` is the chance of taking the shortest alternative at each choice
    (see :meth:`~stratloop.acceptance.gbnf.Grammar.sample`): the default gives
    strategies of the size a model writes, well inside the node limit.
    """

    seed: int = 0
    brevity: float = 0.8


ScriptStep: TypeAlias = Reply | NoChoices | ErrorStatus | Hang | Malformed | Disconnect | Sampled
"""One scripted answer to one completion request."""


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """A request the server received: method, path, whether it carried a key, JSON body."""

    method: str
    path: str
    authorized: bool
    body: Mapping[str, Any] | None

    @property
    def messages(self) -> tuple[Mapping[str, Any], ...]:
        """The chat messages of a completion request, oldest first."""
        if self.body is None:
            return ()
        return tuple(self.body.get("messages", ()))


class ScriptedOpenAIServer:
    """Serve ``script`` step by step to chat-completion requests on a free loopback port.

    Once the script is used up, further completion requests get a 500 whose
    message says so, so a test that asks more than it scripted fails loudly.

    Args:
        script: the steps, one per completion request, in order.
        model: the model id reported by ``/v1/models`` and in replies.
        host: the address to bind; loopback by default.
        port: the port to bind; 0 picks a free one.
        cycle: start the script over once it is used up (for long rehearsal runs).
        grammar: what a request's ``grammar`` does: ``enforce`` (llama.cpp),
            ``reject`` (HTTP 400, as OpenAI), ``ignore`` (accepted, no effect).
        json_schema: the same for ``response_format: {type: json_schema}``.
    """

    def __init__(
        self,
        script: Iterable[ScriptStep] = (),
        *,
        model: str = "scripted-model",
        host: str = "127.0.0.1",
        port: int = 0,
        cycle: bool = False,
        grammar: Constraint = "enforce",
        json_schema: Constraint = "enforce",
    ) -> None:
        self.model = model
        self.grammar = grammar
        self.json_schema = json_schema
        self._script = list(script)
        self._cycle = list(self._script) if cycle else []
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._stopping = threading.Event()
        self._httpd = _HTTPServer((host, port), self)
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """The ``llm.base_url`` to configure, e.g. ``http://127.0.0.1:54321/v1``."""
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    @property
    def requests(self) -> tuple[RecordedRequest, ...]:
        """Every request received so far, oldest first."""
        with self._lock:
            return tuple(self._requests)

    @property
    def completion_requests(self) -> tuple[RecordedRequest, ...]:
        """The chat-completion requests received so far."""
        return tuple(r for r in self.requests if r.path.endswith("/chat/completions"))

    @property
    def remaining(self) -> int:
        """How many scripted steps have not been served yet."""
        with self._lock:
            return len(self._script)

    def extend(self, steps: Iterable[ScriptStep]) -> None:
        """Append steps to the script."""
        with self._lock:
            self._script.extend(steps)

    def start(self) -> Self:
        """Start serving in a background thread."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._httpd.serve_forever,
                kwargs={"poll_interval": 0.05},
                name="scripted-openai-server",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Release hanging requests, stop serving and close the socket."""
        self._stopping.set()
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5.0)
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"ScriptedOpenAIServer(base_url={self.base_url!r}, remaining={self.remaining})"

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def _next_step(self) -> ScriptStep:
        with self._lock:
            if not self._script and self._cycle:
                self._script.extend(self._cycle)
            if self._script:
                return self._script.pop(0)
        return ErrorStatus(500, "scripted server: the script has no reply left")

    def _wait(self, seconds: float) -> None:
        self._stopping.wait(seconds)


def _completion_body(step: Reply, model: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "chatcmpl-scripted",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": step.content},
                "finish_reason": step.finish_reason,
            }
        ],
    }
    if step.report_usage:
        body["usage"] = {
            "prompt_tokens": step.prompt_tokens,
            "completion_tokens": step.completion_tokens,
            "total_tokens": step.prompt_tokens + step.completion_tokens,
        }
    return body


class _HTTPServer(ThreadingHTTPServer):
    """The stdlib threading server, knowing the scripted server it serves."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], scripted: ScriptedOpenAIServer) -> None:
        super().__init__(address, _Handler)
        self.scripted = scripted


class _Handler(BaseHTTPRequestHandler):
    """Routes the two OpenAI endpoints to the script."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out at once, not 40 ms apart
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        """Stay quiet: the server records requests instead of logging them."""

    def do_GET(self) -> None:
        """``GET /v1/models`` lists the one scripted model."""
        scripted = self.server.scripted
        scripted._record(RecordedRequest("GET", self.path, self._authorized(), None))  # noqa: SLF001
        if self.path.rstrip("/").endswith("/models"):
            model = {"id": scripted.model, "object": "model", "created": 0, "owned_by": "stratloop"}
            self._send_json(200, {"object": "list", "data": [model]})
        else:
            self._send_json(404, _error(f"no route GET {self.path}"))

    def do_POST(self) -> None:
        """``POST /v1/chat/completions`` gets the script's next step."""
        scripted = self.server.scripted
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(min(length, _MAX_BODY))
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        parsed = body if isinstance(body, dict) else None
        scripted._record(RecordedRequest("POST", self.path, self._authorized(), parsed))  # noqa: SLF001
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._send_json(404, _error(f"no route POST {self.path}"))
            return
        try:
            checks = _constraints(parsed or {}, scripted)
        except _BadRequest as exc:
            self._send_json(400, _error(str(exc)))
            return
        step = scripted._next_step()  # noqa: SLF001
        try:
            step = checks.apply(step)
        except _BadScript as exc:
            self._send_json(500, _error(f"scripted server: {exc}"))
            return
        self._serve(step)

    def _serve(self, step: ScriptStep) -> None:
        model = self.server.scripted.model
        if isinstance(step, Reply):
            self._send_json(200, _completion_body(step, model))
        elif isinstance(step, NoChoices):
            self._send_json(200, {**_completion_body(Reply(None), model), "choices": []})
        elif isinstance(step, ErrorStatus):
            self._send_json(step.code, _error(step.message), step.headers)
        elif isinstance(step, Hang):
            self.server.scripted._wait(step.seconds)  # noqa: SLF001
            self._serve(step.then)
        elif isinstance(step, Malformed):
            self._send_raw(200, step.body.encode(), {})
        else:
            self.close_connection = True
            self.connection.close()

    def _authorized(self) -> bool:
        return bool(self.headers.get("Authorization"))

    def _send_json(
        self, code: int, body: Mapping[str, Any], headers: Mapping[str, str] | None = None
    ) -> None:
        self._send_raw(code, json.dumps(body).encode(), headers or {})

    def _send_raw(self, code: int, data: bytes, headers: Mapping[str, str]) -> None:
        try:
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True


class _BadRequest(Exception):
    """The request is one a real server refuses with HTTP 400."""


class _BadScript(Exception):
    """The scripted step is one a server enforcing the request's constraint could not send."""


@dataclass(frozen=True, slots=True)
class _Checks:
    """The constraints a request carries that the server enforces."""

    grammar: Grammar | None = None
    schema: Mapping[str, Any] | None = None

    def apply(self, step: ScriptStep) -> ScriptStep:
        """The step to serve: a sampled reply drawn, a scripted reply checked."""
        if isinstance(step, Sampled):
            if self.grammar is None:
                raise _BadScript("a Sampled step needs a request with an enforced grammar")
            rng = random.Random(step.seed)  # noqa: S311 - a test model
            return Reply(self.grammar.sample(rng, brevity=step.brevity, max_depth=16))
        if not isinstance(step, Reply) or not step.content:
            return step
        if self.grammar is not None and not self.grammar.accepts(step.content):
            raise _BadScript(
                "the scripted reply does not match the request's grammar; a server "
                f"enforcing it could not have sent it: {step.content[:200]!r}"
            )
        if self.schema is not None:
            problem = _schema_problem(step.content, self.schema)
            if problem is not None:
                raise _BadScript(
                    f"the scripted reply does not follow the request's JSON schema ({problem})"
                )
        return step


def _constraints(body: Mapping[str, Any], server: ScriptedOpenAIServer) -> _Checks:  # noqa: C901 - the two fields' checks side by side
    grammar = None
    schema = None
    if "grammar" in body and server.grammar != "ignore":
        if server.grammar == "reject":
            raise _BadRequest("Unrecognized request argument supplied: grammar")
        text = body["grammar"]
        if not isinstance(text, str):
            raise _BadRequest("grammar must be a string")
        try:
            grammar = parse_gbnf(text)
        except GrammarError as exc:
            raise _BadRequest(f"Failed to parse grammar: {exc}") from None
    fmt = body.get("response_format")
    if fmt is not None:
        kind = fmt.get("type") if isinstance(fmt, Mapping) else None
        if kind not in ("text", "json_object", "json_schema"):
            raise _BadRequest(f"Invalid value for 'response_format': {fmt!r}")
        if kind == "json_schema":
            spec = fmt.get("json_schema")
            if not isinstance(spec, Mapping) or not isinstance(spec.get("name"), str):
                raise _BadRequest("response_format.json_schema needs a name and a schema")
            if not isinstance(spec.get("schema"), Mapping):
                raise _BadRequest("response_format.json_schema.schema must be an object")
            if server.json_schema == "reject":
                raise _BadRequest("response_format of type json_schema is not supported")
            if server.json_schema == "enforce":
                schema = spec["schema"]
    return _Checks(grammar, schema)


def _schema_problem(text: str, schema: Mapping[str, Any]) -> str | None:
    try:
        value = json.loads(text)
    except ValueError as exc:
        return f"not JSON: {exc}"
    return _violation(value, schema, schema.get("$defs", {}), "$")


_TYPES: Mapping[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "null": (type(None),),
}


def _violation(  # noqa: C901, PLR0911, PLR0912 - one check per JSON-schema keyword
    value: Any, schema: Mapping[str, Any], defs: Mapping[str, Any], where: str
) -> str | None:
    """The first way ``value`` breaks ``schema`` (the keywords Pydantic schemas use), or None."""
    ref = schema.get("$ref")
    if isinstance(ref, str):
        return _violation(value, defs[ref.rsplit("/", 1)[-1]], defs, where)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            problems = [_violation(value, option, defs, where) for option in schema[key]]
            if all(problems):
                deepest = max((p for p in problems if p), key=len)
                return f"{where} matches none of {key} (nearest: {deepest})"
            return None
    kind = schema.get("type")
    if kind is not None:
        allowed = _TYPES[kind]
        if isinstance(value, bool) and bool not in allowed:
            return f"{where} must be {kind}"
        if not isinstance(value, allowed):
            return f"{where} must be {kind}"
    if "enum" in schema and value not in schema["enum"]:
        return f"{where} must be one of {schema['enum']}"
    if "const" in schema and value != schema["const"]:
        return f"{where} must be {schema['const']!r}"
    if isinstance(value, int | float) and not isinstance(value, bool):
        bounds = [
            ("minimum", value >= schema.get("minimum", value)),
            ("maximum", value <= schema.get("maximum", value)),
            (
                "exclusiveMinimum",
                "exclusiveMinimum" not in schema or value > schema["exclusiveMinimum"],
            ),
            (
                "exclusiveMaximum",
                "exclusiveMaximum" not in schema or value < schema["exclusiveMaximum"],
            ),
        ]
        for key, ok in bounds:
            if not ok:
                return f"{where} breaks {key} {schema[key]}"
    if isinstance(value, str) and len(value) > schema.get("maxLength", len(value)):
        return f"{where} is longer than {schema['maxLength']}"
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        for name in schema.get("required", ()):
            if name not in value:
                return f"{where}.{name} is required"
        for name, item in value.items():
            if name in properties:
                problem = _violation(item, properties[name], defs, f"{where}.{name}")
                if problem is not None:
                    return problem
            elif schema.get("additionalProperties") is False:
                return f"{where}.{name} is not allowed"
    return None


def _error(message: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": "scripted", "code": None}}


def scripted_specs(count: int) -> list[str]:
    """``count`` valid strategy specs as reply texts, cycling through windows and sizes.

    What a scripted server serves when a rehearsal needs an LLM that always
    proposes a valid strategy (the shadow rehearsal, the guide's audit check).
    """
    replies = []
    for index in range(count):
        window = _WINDOWS[index % len(_WINDOWS)]
        spec = {
            "expression": f"rank(ts_mean(returns, {window})) - rank(ts_std(returns, 60))",
            "portfolio": {"kind": "top_n", "n": 3 + index % 5, "rebalance_days": 21},
            "rationale": "scripted reply for the audit logging check",
        }
        replies.append(json.dumps(spec))
    return replies


_STRICT = ConfigDict(frozen=True, extra="forbid", strict=True, allow_inf_nan=False)
_KINDS = ("reply", "empty", "no_choices", "status", "hang", "malformed", "disconnect")


class _Step(BaseModel):
    model_config = _STRICT
    reply: str | None = None
    prompt_tokens: Annotated[int, Field(ge=0)] = 100
    completion_tokens: Annotated[int, Field(ge=0)] = 50
    empty: bool | None = None
    no_choices: bool | None = None
    status: Annotated[int, Field(ge=100, le=599)] | None = None
    message: str = "scripted error"
    retry_after: Annotated[float, Field(ge=0)] | None = None
    hang: Annotated[float, Field(gt=0, le=3600)] | None = None
    malformed: str | None = None
    disconnect: bool | None = None

    def step(self) -> ScriptStep:
        kinds = [kind for kind in _KINDS if getattr(self, kind) is not None]
        if len(kinds) != 1:
            message = f"each step needs exactly one of {', '.join(_KINDS)} but got {kinds}"
            raise ValueError(message)
        if self.reply is not None:
            return Reply(self.reply, self.prompt_tokens, self.completion_tokens)
        if self.status is not None:
            headers = {} if self.retry_after is None else {"Retry-After": f"{self.retry_after:g}"}
            return ErrorStatus(self.status, self.message, MappingProxyType(headers))
        if self.hang is not None:
            return Hang(self.hang)
        if self.malformed is not None:
            return Malformed(self.malformed)
        if self.empty is not None:
            return Reply("")
        return NoChoices() if self.no_choices is not None else Disconnect()


class ScriptFile(BaseModel):
    """A scripted server's configuration as read from a file."""

    model_config = _STRICT
    model: Annotated[str, Field(min_length=1)] = "scripted-model"
    cycle: bool = False
    steps: Annotated[list[_Step], Field(min_length=1)]

    def script(self) -> tuple[ScriptStep, ...]:
        """The steps as server script items."""
        return tuple(step.step() for step in self.steps)


def load_script(path: Path) -> tuple[ScriptFile, tuple[ScriptStep, ...]]:
    """Read and check ``path``.

    Raises:
        ConfigFileError: unreadable, not YAML, or a step that is not exactly one kind.
    """
    fix = "see the script format in docs/llm.md"
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        parsed = ScriptFile.model_validate(data)
        return parsed, parsed.script()
    except OSError as exc:
        raise ConfigFileError(str(path), f"cannot read it ({exc.strerror})", fix) from exc
    except (yaml.YAMLError, ValidationError, ValueError) as exc:
        problem = " ".join(str(exc).split())[:500]
        raise ConfigFileError(str(path), problem, fix) from exc


def main(argv: Sequence[str] | None = None) -> int:
    """Serve a script file until interrupted: ``python -m stratloop.acceptance.llm_server FILE``.

    Args:
        argv: ``FILE [--host HOST] [--port PORT]``; defaults to the process arguments.
    """
    parser = argparse.ArgumentParser(
        prog="python -m stratloop.acceptance.llm_server",
        description="Serve scripted OpenAI-compatible replies on loopback (staging rehearsals).",
    )
    parser.add_argument("script", type=Path, help="YAML file with model, cycle and steps")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8089)
    args = parser.parse_args(argv)
    try:
        settings, steps = load_script(args.script)
    except StratloopError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    server = ScriptedOpenAIServer(
        steps, model=settings.model, host=args.host, port=args.port, cycle=settings.cycle
    )
    sys.stdout.write(f"serving {len(steps)} scripted steps at {server.base_url}\n")
    sys.stdout.flush()
    server.start()
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        return 0
    finally:
        server.stop()


if __name__ == "__main__":
    sys.exit(main())
