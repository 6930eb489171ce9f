"""The LLM candidate source: prompt, reply, parse and check, with repair rounds.

:class:`LLMProposer` is the ``CandidateSource`` the generation strategies are
given for the LLM. Each ``propose`` builds the prompt from the iteration's
context, asks the client, and parses the reply with the strategy engine; when
the reply is not a valid spec, the parser's error is sent back for a corrected
one, up to ``llm.repair_rounds`` times. It never touches ``ctx.rng`` (the
decision owns its first draw), so a run's decisions do not depend on what the
model says.
"""

from __future__ import annotations

from typing import Any

from stratloop.errors import LLMGenerationError
from stratloop.factors import (
    FIELDS,
    FactorLibrary,
    Limits,
    available_fields,
    check_strategy,
    dsl_reference,
)
from stratloop.generation.context import GenerationContext
from stratloop.llm.budget import TokenBudget, Usage
from stratloop.llm.client import Completion, LLMClient
from stratloop.llm.prompts import PromptSettings, Universe, build_messages, repair_messages
from stratloop.llm.response import ReplyBounds, parse_reply
from stratloop.spec import Candidate, Lineage, Strategy, TopN

__all__ = ["EXAMPLE_STRATEGY", "LLMProposer"]

EXAMPLE_STRATEGY = Strategy(
    expression="rank(ts_mean(returns, 20)) - rank(ts_std(returns, 60))",
    portfolio=TopN(n=5, rebalance_days=21),
)
"""The reply-format example the prompt shows; checked against the DSL at construction."""


class LLMProposer:
    """Proposes one checked candidate per call by asking the LLM.

    Args:
        client: the endpoint to ask.
        limits: expression limits (``Limits.from_config(config.generation)``).
        fields: the data's stored fields (derived ones such as ``returns`` are added).
        budget: the run's token budget; None builds it from the client's ``llm``
            section (so a configured budget is never silently dropped).
        repair_rounds: how many corrected replies to ask for; None uses
            ``llm.repair_rounds`` from the client's configuration.
        universe: the data's assets and dates, for the prompt (hidden when
            ``llm.anonymize`` is true).
        bounds: size bounds on replies.
        example: the strategy the prompt shows as the reply format's example.
        library: the factor library the prompt describes, including the user's
            own templates; None describes the default library.

    Raises:
        ExpressionError: ``example`` is not valid under ``limits`` and ``fields``.
    """

    def __init__(
        self,
        client: LLMClient,
        *,
        limits: Limits,
        fields: frozenset[str],
        budget: TokenBudget | None = None,
        repair_rounds: int | None = None,
        universe: Universe | None = None,
        bounds: ReplyBounds | None = None,
        example: Strategy = EXAMPLE_STRATEGY,
        library: FactorLibrary | None = None,
    ) -> None:
        self.client = client
        self.limits = limits
        self.fields = frozenset(fields)
        self.budget = budget if budget is not None else TokenBudget.from_config(client.config)
        self.repair_rounds = (
            client.config.repair_rounds if repair_rounds is None else repair_rounds
        )
        if self.repair_rounds < 0:
            message = f"repair_rounds must be >= 0 but got {self.repair_rounds}"
            raise ValueError(message)
        self.bounds = bounds or ReplyBounds()
        shown = available_fields(self.fields)
        self.settings = PromptSettings(
            reference=dsl_reference(library),
            fields=shown,
            example=check_strategy(example, fields=self.fields, limits=limits),
            max_nodes=limits.max_nodes,
            max_depth=limits.max_depth,
            max_window=limits.max_window,
            universe=universe,
            field_notes={name: FIELDS[name] for name in shown if name in FIELDS},
        )

    @property
    def usage(self) -> Usage:
        """Tokens, cost and calls spent through this proposer's budget."""
        return self.budget.usage

    def propose(self, ctx: GenerationContext) -> Candidate:
        """Ask for a strategy until one checks, or the repair rounds run out.

        Raises:
            LLMUnavailableError: the endpoint failed (see :meth:`LLMClient.complete`).
            LLMEmptyResponseError: a reply was empty.
            LLMBudgetExhaustedError: the budget was spent before a call.
            LLMGenerationError: no reply held a valid spec; the last parser or
                checker error is chained as ``__cause__``.
        """
        messages = build_messages(ctx, self.settings)
        replies: list[Completion] = []
        while True:
            completion = self.client.complete(messages, budget=self.budget)
            replies.append(completion)
            try:
                parsed = parse_reply(
                    completion.text, fields=self.fields, limits=self.limits, bounds=self.bounds
                )
            except LLMGenerationError as exc:
                if len(replies) > self.repair_rounds:
                    raise _exhausted(exc, replies, self.client.config.max_tokens) from (
                        exc.__cause__ or exc
                    )
                messages = repair_messages(messages, completion.text, exc)
                continue
            lineage = Lineage(
                parents=() if ctx.champion is None else (ctx.champion.candidate.candidate_id,),
                operator="llm",
                params=_params(replies, parsed.rationale),
            )
            return Candidate(parsed.strategy, "llm", lineage)

    def __repr__(self) -> str:
        return f"LLMProposer(client={self.client!r}, repair_rounds={self.repair_rounds})"


def _exhausted(
    error: LLMGenerationError, replies: list[Completion], max_tokens: int
) -> LLMGenerationError:
    count = len(replies)
    rounds = count - 1
    text = (
        f"no valid strategy after {count} repl{'ies' if count != 1 else 'y'} "
        f"({rounds} repair round{'s' * (rounds != 1)}, llm.repair_rounds): {error}"
    )
    if replies[-1].finish_reason == "length":
        text += (
            f"; the last reply was cut off at llm.max_tokens={max_tokens}: raise llm.max_tokens"
        )
    return LLMGenerationError(text)


def _params(replies: list[Completion], rationale: str | None) -> dict[str, Any]:
    params: dict[str, Any] = {
        "model": replies[-1].model,
        "prompt_tokens": sum(r.prompt_tokens for r in replies),
        "completion_tokens": sum(r.completion_tokens for r in replies),
        "tokens": sum(r.tokens for r in replies),
        "replies": len(replies),
        "repair_rounds_used": len(replies) - 1,
        "http_attempts": sum(r.attempts for r in replies),
        "usage_estimated": any(r.usage_estimated for r in replies),
    }
    if rationale is not None:
        params["rationale"] = rationale
    return params
