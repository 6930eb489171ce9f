"""The LLM candidate source: prompt, reply, parse and check, with repair rounds.

:class:`LLMProposer` is the ``CandidateSource`` the generation strategies are
given for the LLM. Each ``propose`` picks the model (``llm.models``, by
weight), samples the earlier candidates the prompt shows (the best, other
factor families, recent failures), builds the prompt, asks the client under
the run's structured-output constraint, and parses the reply with the
strategy engine; when the reply is not a valid spec, the parser's error is
sent back for a corrected one, up to ``llm.repair_rounds`` times. Every call
is logged as an :class:`~stratloop.llm.calls.LLMCall` in the run's budget,
from where the loop moves it into the iteration's record.

Its random choices come from the iteration's LLM stream, a generator derived
from ``(run seed, iteration, LLM_STREAM)``: reproducible, different for each
call of a batch, and apart from ``ctx.rng`` (the decision owns its first
draw), so a run's decisions never depend on what the model says.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from stratloop.config.models import ModelChoice
from stratloop.errors import ExpressionError, LLMError, LLMGenerationError
from stratloop.factors import (
    FIELDS,
    Call,
    Expr,
    FactorLibrary,
    Field,
    Limits,
    available_fields,
    check_strategy,
    default_library,
    dsl_reference,
    parse,
)
from stratloop.factors.grammar import FactorReferences
from stratloop.factors.limits import EVALUATION_LIMITS
from stratloop.factors.typecheck import typecheck
from stratloop.generation.context import Feedback, GenerationContext
from stratloop.llm.budget import TokenBudget, Usage
from stratloop.llm.calls import CallPurpose, LLMCall
from stratloop.llm.client import Completion, Constraint, LLMClient, Message, Route
from stratloop.llm.gbnf import strategy_grammar
from stratloop.llm.prompts import (
    Inspirations,
    PromptSettings,
    Universe,
    build_messages,
    repair_messages,
    saved_factors_section,
)
from stratloop.llm.response import ReplyBounds, parse_reply
from stratloop.llm.structured import Mode, ProbeResult, probe, strategy_schema
from stratloop.spec import Candidate, Lineage, Strategy, TopN

__all__ = [
    "EXAMPLE_STRATEGY",
    "LLM_STREAM",
    "LLMProposer",
    "choose_model",
    "llm_rng",
    "sample_inspirations",
]

LLM_STREAM = 0x4C4C4D
"""The third seed word of the LLM's own generator (``"LLM"`` in ASCII)."""
_TOP = 2
_TOP_POOL = 6
_DIVERSE = 2
_FAILURES = 2
_FAILURE_POOL = 8
_ARCHIVE = 512
"""Earlier candidates the proposer remembers for inspirations (the newest are kept)."""


def llm_rng(seed: int, iteration: int) -> np.random.Generator:
    """The iteration's LLM generator: model choice and inspirations, apart from ``ctx.rng``."""
    sequence = np.random.SeedSequence([seed, iteration, LLM_STREAM])
    return np.random.Generator(np.random.PCG64(sequence))


def choose_model(models: Sequence[ModelChoice], rng: np.random.Generator) -> ModelChoice:
    """One model of the ensemble, with probability proportional to its weight (one draw)."""
    weights = np.array([choice.weight for choice in models], dtype=float)
    cumulative = np.cumsum(weights) / weights.sum()
    index = int(np.searchsorted(cumulative, rng.random(), side="right"))
    return models[min(index, len(models) - 1)]


def _family(expression: str) -> frozenset[str]:
    """The operators and fields an expression uses: its factor family, windows aside."""
    try:
        tree = parse(expression)
    except ExpressionError:
        return frozenset({expression})
    names: set[str] = set()
    stack: list[Expr] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, Call | Field):
            names.add(node.name)
        stack.extend(node.children)
    return frozenset(names)


def sample_inspirations(
    archive: Sequence[Feedback], rng: np.random.Generator
) -> Inspirations:
    """What one call is shown: some of the best, other families, recent failures.

    Args:
        archive: earlier results, oldest first (one per expression).
        rng: the call's LLM generator.
    """
    scored = [item for item in archive if item.score is not None and not item.error]
    best = sorted(scored, key=lambda item: -(item.score or 0.0))[:_TOP_POOL]
    top = _pick(best, _TOP, rng)
    seen = {_family(item.expression) for item in top}
    others: dict[frozenset[str], Feedback] = {}
    for item in scored:
        family = _family(item.expression)
        if family not in seen and item not in top:
            others[family] = item
    diverse = _pick(list(others.values()), _DIVERSE, rng)
    failed = [item for item in archive if item.error][-_FAILURE_POOL:]
    failures = _pick(failed, _FAILURES, rng)
    return Inspirations(top=top, diverse=diverse, failures=failures)


def _pick(items: Sequence[Feedback], count: int, rng: np.random.Generator) -> tuple[Feedback, ...]:
    if len(items) <= count:
        return tuple(items)
    chosen = sorted(rng.choice(len(items), size=count, replace=False).tolist())
    return tuple(items[i] for i in chosen)

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
        saved: the persistent library's factors: listed in the prompt, and
            usable in a reply as ``factor("name")`` (inlined in the spec).

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
        saved: FactorReferences | None = None,
    ) -> None:
        self.client = client
        self.saved = saved
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
            reference=_reference(library or default_library()) + saved_factors_section(saved),
            fields=shown,
            example=check_strategy(example, fields=self.fields, limits=limits),
            max_nodes=limits.max_nodes,
            max_depth=limits.max_depth,
            max_window=limits.max_window,
            universe=universe,
            field_notes={name: FIELDS[name] for name in FIELDS},
            grammar_fields=tuple(FIELDS),
        )
        self.probe_result: ProbeResult | None = None
        """What ``llm.structured_output: auto`` found, once the first call has probed."""
        self._lock = threading.Lock()
        self._archive: dict[str, Feedback] = {}
        self._constraint: Constraint | None = None
        self._mode: Mode | None = None
        configured = client.config.structured_output
        if configured != "auto":
            self._mode = configured
            self._constraint = self._constraint_for(configured)

    @property
    def usage(self) -> Usage:
        """Tokens, cost and calls spent through this proposer's budget."""
        return self.budget.usage

    @property
    def structured_output(self) -> Mode | None:
        """The constraint the run's requests carry; None until ``auto`` has probed."""
        return self._mode

    def propose(self, ctx: GenerationContext) -> Candidate:
        """Ask for a strategy until one checks, or the repair rounds run out.

        Raises:
            LLMUnavailableError: the endpoint failed (see :meth:`LLMClient.complete`).
            LLMEmptyResponseError: a reply was empty.
            LLMBudgetExhaustedError: the budget was spent before a call.
            LLMGenerationError: no reply held a valid spec; the last parser or
                checker error is chained as ``__cause__``.
        """
        rng = llm_rng(ctx.seed, ctx.iteration)
        route = self._route(rng)
        constraint, mode = self._structured(route)
        inspirations = sample_inspirations(self._remember(ctx), rng)
        messages = build_messages(ctx, self.settings, inspirations)
        replies: list[Completion] = []
        while True:
            purpose: CallPurpose = "repair" if replies else "propose"
            completion = self._ask(messages, route, constraint, mode, purpose)
            replies.append(completion)
            try:
                parsed = parse_reply(
                    completion.text,
                    fields=self.fields,
                    limits=self.limits,
                    bounds=self.bounds,
                    factors=self.saved,
                )
            except LLMGenerationError as exc:
                self._log(route, purpose, mode, completion, "rejected", exc, completion.text)
                if len(replies) > self.repair_rounds:
                    raise _exhausted(exc, replies, self.client.config.max_tokens) from (
                        exc.__cause__ or exc
                    )
                messages = repair_messages(messages, completion.text, exc)
                continue
            self._log(route, purpose, mode, completion, "accepted")
            lineage = Lineage(
                parents=() if ctx.champion is None else (ctx.champion.candidate.candidate_id,),
                operator="llm",
                params=_params(replies, parsed.rationale, route, mode),
            )
            return Candidate(parsed.strategy, "llm", lineage)

    def __repr__(self) -> str:
        return f"LLMProposer(client={self.client!r}, repair_rounds={self.repair_rounds})"

    def _route(self, rng: np.random.Generator) -> Route | None:
        models = self.client.config.models
        if not models:
            return None
        choice = choose_model(models, rng)
        return Route(choice.model, choice.base_url, choice.cost_per_1k_tokens)

    def _structured(self, route: Route | None) -> tuple[Constraint | None, Mode]:
        """The run's constraint; ``auto`` probes on the first call (once per run)."""
        with self._lock:
            if self._mode is None:
                result, calls = probe(self.client, budget=self.budget, route=route)
                for call in calls:
                    self.budget.log_call(call)
                self.probe_result = result
                self._mode = result.mode
                self._constraint = self._constraint_for(result.mode)
            return self._constraint, self._mode

    def _constraint_for(self, mode: str) -> Constraint | None:
        if mode == "json_schema":
            return Constraint("json_schema", schema=strategy_schema())
        if mode == "grammar":
            grammar = strategy_grammar(self.fields, self.limits, saved=self._grammar_factors())
            return Constraint("grammar", grammar=grammar)
        return None

    def _grammar_factors(self) -> tuple[str, ...]:
        """The saved factors the grammar offers: those that are scale-free signals on the data."""
        if self.saved is None:
            return ()
        usable = []
        for name in self.saved.names:
            try:
                typecheck(self.saved.resolve(name), fields=self.fields, limits=EVALUATION_LIMITS)
            except ExpressionError:
                continue
            usable.append(name)
        return tuple(usable)

    def _remember(self, ctx: GenerationContext) -> list[Feedback]:
        """Add what ``ctx`` shows to the archive (one entry per expression); the archive."""
        with self._lock:
            for item in ctx.feedback:
                if item.expression:
                    self._archive.pop(item.expression, None)
                    self._archive[item.expression] = item
            while len(self._archive) > _ARCHIVE:
                self._archive.pop(next(iter(self._archive)))
            return list(self._archive.values())

    def _ask(
        self,
        messages: Sequence[Message],
        route: Route | None,
        constraint: Constraint | None,
        mode: Mode,
        purpose: CallPurpose,
    ) -> Completion:
        started = time.perf_counter()
        try:
            completion = self.client.complete(
                messages, budget=self.budget, constraint=constraint, route=route
            )
        except LLMError as exc:
            model = self.client.model if route is None else route.model
            self.budget.log_call(
                LLMCall(model, purpose, "failed", time.perf_counter() - started,
                        structured_output=mode, error=f"{type(exc).__name__}: {exc}")
            )
            raise
        return completion

    def _log(
        self,
        route: Route | None,
        purpose: CallPurpose,
        mode: Mode,
        completion: Completion,
        outcome: str,
        error: LLMGenerationError | None = None,
        reply: str | None = None,
    ) -> None:
        model = self.client.model if route is None else route.model
        price = None if route is None else route.cost_per_1k_tokens
        self.budget.log_call(
            LLMCall(
                model=model,
                purpose=purpose,
                outcome="accepted" if outcome == "accepted" else "rejected",
                latency_s=completion.latency_s,
                prompt_tokens=completion.prompt_tokens,
                completion_tokens=completion.completion_tokens,
                cost=self.budget.price(completion.tokens, price),
                finish_reason=completion.finish_reason,
                structured_output=mode,
                error=None if error is None else str(error),
                reply=reply,
            )
        )


def _reference(library: FactorLibrary) -> str:
    """The DSL reference with each template shown at its defaults (no ``{n}`` placeholders)."""
    text = dsl_reference(library)
    for template in library.templates:
        text = text.replace(
            f"`{template.template}`", f"`{template.render(template.defaults())}`"
        )
    return text


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


def _params(
    replies: list[Completion], rationale: str | None, route: Route | None, mode: Mode
) -> dict[str, Any]:
    params: dict[str, Any] = {
        "model": replies[-1].model if route is None else route.model,
        "prompt_tokens": sum(r.prompt_tokens for r in replies),
        "completion_tokens": sum(r.completion_tokens for r in replies),
        "tokens": sum(r.tokens for r in replies),
        "replies": len(replies),
        "repair_rounds_used": len(replies) - 1,
        "http_attempts": sum(r.attempts for r in replies),
        "usage_estimated": any(r.usage_estimated for r in replies),
        "structured_output": mode,
    }
    if rationale is not None:
        params["rationale"] = rationale
    return params
