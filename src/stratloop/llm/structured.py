"""Structured output: which constraint a run's requests carry, and the probe that decides it.

``llm.structured_output`` selects it: ``json_schema`` sends the strategy
spec's JSON schema as ``response_format`` (no shape errors such as
``quantile: 0.9``), ``grammar`` sends the GBNF grammar generated from the DSL
(:mod:`stratloop.llm.gbnf`; no DSL errors either), ``none`` sends neither.
``auto`` probes the endpoint once per run: a request whose grammar forces a
known answer the prompt does not ask for, then one whose schema does. A
server that honours the constraint answers with it; one that ignores it
(many do, silently) answers the prompt. What the probe found is recorded in
:class:`ProbeResult` and in every call's record; nothing falls back unseen.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Literal

from stratloop.errors import LLMBudgetExhaustedError, LLMError
from stratloop.llm.budget import TokenBudget
from stratloop.llm.calls import LLMCall
from stratloop.llm.client import Constraint, LLMClient, Message, Route
from stratloop.spec import Strategy

__all__ = ["PROBE_ANSWER", "Mode", "ProbeResult", "probe", "strategy_schema"]

Mode = Literal["json_schema", "grammar", "none"]

PROBE_ANSWER = "stratloop-probe-ok"
"""What a constrained probe reply must be; an unconstrained model says something else."""
_PROBE_PROMPT = "Reply with the single word: hello"
_PROBE_TOKENS = 24
_RATIONALE_CHARS = 2000


def strategy_schema() -> dict[str, Any]:
    """The JSON schema of a reply: the strategy spec plus an optional ``rationale``."""
    schema = Strategy.model_json_schema()
    properties = dict(schema.get("properties", {}))
    properties["rationale"] = {"type": "string", "maxLength": _RATIONALE_CHARS}
    schema["properties"] = properties
    return schema


_PROBE_GRAMMAR = Constraint("grammar", grammar=f'root ::= "{PROBE_ANSWER}"\n')
_PROBE_SCHEMA = Constraint(
    "json_schema",
    schema={
        "type": "object",
        "properties": {"probe": {"type": "string", "enum": [PROBE_ANSWER]}},
        "required": ["probe"],
        "additionalProperties": False,
    },
    name="probe",
)


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """What ``auto`` found the endpoint honours, and the mode the run uses.

    Args:
        mode: the constraint every request of the run carries.
        grammar: ``honoured``, ``ignored`` or ``rejected: <why>``.
        json_schema: the same for ``response_format``; ``not probed`` when
            the grammar was honoured (the grammar implies the schema).
    """

    mode: Mode
    grammar: str
    json_schema: str

    def describe(self) -> str:
        """One line for logs and the run record."""
        return (
            f"llm.structured_output=auto: using {self.mode} "
            f"(grammar {self.grammar}; json_schema {self.json_schema})"
        )


def _verdict(
    client: LLMClient,
    constraint: Constraint,
    budget: TokenBudget | None,
    route: Route | None,
    calls: list[LLMCall],
) -> str:
    """Ask one probe; what it found, with the call's record appended to ``calls``."""
    started = time.perf_counter()
    model = client.model if route is None else route.model
    try:
        reply = client.complete(
            (Message("user", _PROBE_PROMPT),),
            budget=budget,
            constraint=constraint,
            route=route,
            max_tokens=_PROBE_TOKENS,
        )
    except LLMBudgetExhaustedError:
        raise
    except LLMError as exc:
        verdict = f"rejected: {exc}"
        calls.append(
            LLMCall(model, "probe", "probe", time.perf_counter() - started,
                    structured_output=constraint.kind, error=str(exc), verdict=verdict)
        )
        return verdict
    verdict = "honoured" if _honoured(constraint, reply.text.strip()) else "ignored"
    cost = None if budget is None else budget.price(
        reply.tokens, None if route is None else route.cost_per_1k_tokens
    )
    calls.append(
        LLMCall(model, "probe", "probe", time.perf_counter() - started, reply.prompt_tokens,
                reply.completion_tokens, cost, reply.finish_reason, constraint.kind,
                verdict=verdict)
    )
    return verdict


def _honoured(constraint: Constraint, text: str) -> bool:
    """True if the reply is the one the constraint forces."""
    if constraint.kind == "grammar":
        return text == PROBE_ANSWER
    try:
        return bool(json.loads(text) == {"probe": PROBE_ANSWER})
    except ValueError:
        return False


def probe(
    client: LLMClient,
    *,
    budget: TokenBudget | None = None,
    route: Route | None = None,
) -> tuple[ProbeResult, tuple[LLMCall, ...]]:
    """Ask the endpoint what it honours: the grammar first, then the JSON schema.

    Returns:
        The result, and the probe calls' records (charged to ``budget``).

    Raises:
        LLMBudgetExhaustedError: the budget was spent before a probe.
    """
    calls: list[LLMCall] = []
    grammar = _verdict(client, _PROBE_GRAMMAR, budget, route, calls)
    if grammar == "honoured":
        return ProbeResult("grammar", grammar, "not probed"), tuple(calls)
    schema = _verdict(client, _PROBE_SCHEMA, budget, route, calls)
    mode: Mode = "json_schema" if schema == "honoured" else "none"
    return ProbeResult(mode, grammar, schema), tuple(calls)
