"""The one generation path: decide, call the decided generator, handle its failure.

Every iteration, whatever the flags, runs :func:`generate`. The flags are data
that select its behaviour (:func:`generate_iteration` maps them):

- master or Phase 1 off: ``rule="legacy"``, the :class:`Sources` called
  directly, ``on_failure="silent"``; recorded as ``legacy``.
- Phase 1 on, Phase 3 off: ``rule="priority"``, the :class:`Sources` called
  directly, ``on_failure`` = ``generation.on_llm_failure``; ``procedural``.
- Phase 1 and Phase 3 on: as Phase 1-2, but through the strategy a
  :class:`StrategyFactory` selects; ``strategy_pattern``.

The ``priority`` rule also brings Phase 1's check that an LLM the
configuration can mandate was provided. When the LLM fails: ``fail`` records
a failed iteration; ``fallback_to_factor_graph`` runs the factor graph and
records ``Fallback(kind="explicit")``; ``silent`` (legacy) does the same
without telling the user, but records ``Fallback(kind="silent")`` so metrics
count it. A factor-graph failure never falls back.

A candidate that repeats one already tried in the run (``repeats``, the
loop's check by trial key) is never returned: the same generator is asked
again with the repeat in ``ctx.repeats`` (the factor graph continues its
random stream, so it mutates differently; the LLM is told what it repeated),
up to ``search.repeat_attempts`` more times. When every answer repeats, the
outcome has no candidate and the error ``RepeatedCandidateError``: the
iteration is recorded as ``exhausted``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Literal, TypeAlias

from stratloop._types import GenerationMethod
from stratloop.errors import (
    ConfigError,
    GenerationError,
    RepeatedCandidateError,
    StratloopError,
)
from stratloop.flags.model import Flags
from stratloop.generation.context import GenerationContext
from stratloop.generation.decision import Decision, Rule, decide
from stratloop.generation.outcome import Fallback, GenerationOutcome, Implementation, Repeat
from stratloop.generation.strategies import (
    CandidateSource,
    Sources,
    StrategyFactory,
    require_llm,
)
from stratloop.spec import Candidate, Strategy

__all__ = [
    "FailurePolicy",
    "RepeatCheck",
    "generate",
    "generate_iteration",
    "implementation_for",
]

FailurePolicy: TypeAlias = Literal["fail", "fallback_to_factor_graph", "silent"]
"""What an LLM failure does: the two ``on_llm_failure`` values, or legacy's silent fallback."""

RepeatCheck: TypeAlias = Callable[[Strategy], "int | None"]
"""The iteration whose candidate ``strategy`` repeats, or None when it is new to the run."""


def implementation_for(enforcement: bool, strategy_pattern: bool) -> Implementation:
    """The code path the effective flags select.

    Args:
        enforcement: Phase 1 in force (``Flags.enforcement``: master and Phase 1),
            recorded as ``phase1_enabled``.
        strategy_pattern: Phase 3 in force (``Flags.strategy_pattern``),
            recorded as ``phase3_enabled``.
    """
    if not enforcement:
        return "legacy"
    return "strategy_pattern" if strategy_pattern else "procedural"


def generate_iteration(
    ctx: GenerationContext,
    flags: Flags,
    *,
    llm: CandidateSource | None,
    factor_graph: CandidateSource,
    repeats: RepeatCheck | None = None,
) -> GenerationOutcome:
    """Run :func:`generate` with the behaviour ``flags`` select (see the module table).

    Args:
        ctx: the iteration's context; its first draw is the decision's.
        flags: the flags in force at this iteration boundary.
        llm: the LLM proposer, or None when no LLM is configured.
        factor_graph: the factor-graph generator.
        repeats: the run's repeat check; None accepts every candidate.

    Raises:
        ConfigConflictError: Phase 1+ and the configuration can mandate the LLM
            but ``llm`` is None.
        GenerationError: a generator mislabelled its candidate.
    """
    implementation = implementation_for(flags.enforcement, flags.strategy_pattern)
    if implementation == "legacy":
        return generate(ctx, "legacy", Sources(llm, factor_graph), "silent", repeats)
    sources = (
        StrategyFactory(llm, factor_graph)
        if implementation == "strategy_pattern"
        else Sources(llm, factor_graph)
    )
    return generate(ctx, "priority", sources, ctx.config.generation.on_llm_failure, repeats)


def generate(
    ctx: GenerationContext,
    rule: Rule,
    sources: Sources,
    on_failure: FailurePolicy,
    repeats: RepeatCheck | None = None,
) -> GenerationOutcome:
    """Decide with ``rule``, ask the decided generator, and apply ``on_failure`` if the LLM fails.

    A generator failure never raises: it comes back as an outcome without a
    candidate, or, when ``on_failure`` falls back, with the factor graph's.

    Args:
        ctx: the iteration's context; the decision takes its first draw and
            the generator continues the stream.
        rule: ``priority`` (Phase 1+, with its LLM-required check) or ``legacy``.
        sources: the generators, called directly (recorded as ``procedural``
            or ``legacy``), or a :class:`StrategyFactory` whose selected
            strategy carries the call (recorded as ``strategy_pattern``, with
            the strategy's class name as ``strategy_selected``).
        on_failure: what an LLM failure does.
        repeats: the run's repeat check; a repeat goes back to its generator.

    Raises:
        ConfigConflictError: ``priority`` and the configuration can mandate the
            LLM but ``sources`` has none.
        ConfigError: a generator reported a configuration problem.
        GenerationError: a generator returned a candidate marked with another method.
    """
    config = ctx.config
    if rule == "priority":
        require_llm(config, sources.llm)
    implementation: Implementation
    if isinstance(sources, StrategyFactory):
        strategy = sources.create(config)
        implementation, selected, produce = "strategy_pattern", strategy.name, strategy.produce
    else:
        implementation = "legacy" if rule == "legacy" else "procedural"
        selected, produce = implementation, sources.produce
    generation = config.generation
    decision = decide(
        generation.use_factor_graph,
        generation.innovation_rate,
        ctx.rng.random(),
        rule=rule,
        llm_enabled=config.llm.enabled,
    )
    fresh = _Fresh(repeats, ctx.config.search.repeat_attempts)
    try:
        candidate = fresh.ask(ctx, lambda attempt: produce(attempt, decision))
    except ConfigError:
        raise
    except RepeatedCandidateError as exc:
        return _failed(implementation, decision, selected, None, exc, fresh.rejected)
    except StratloopError as exc:
        if decision.method != "llm" or on_failure == "fail":
            return _failed(implementation, decision, selected, None, exc, fresh.rejected)
        fallback = _fallback(on_failure, exc)
        try:
            rescued = fresh.ask(ctx, sources.factor_graph.propose)
        except ConfigError:
            raise
        except StratloopError as second:
            return _failed(implementation, decision, selected, fallback, second, fresh.rejected)
        return GenerationOutcome(
            implementation=implementation,
            decision=decision,
            strategy_selected=selected,
            method_used="factor_graph",
            candidate=_checked(rescued, "factor_graph"),
            fallback=fallback,
            error_type=type(exc).__name__,
            error_message=str(exc),
            repeats=fresh.rejected,
        )
    return GenerationOutcome(
        implementation=implementation,
        decision=decision,
        strategy_selected=selected,
        method_used=decision.method,
        candidate=_checked(candidate, decision.method),
        repeats=fresh.rejected,
    )


class _Fresh:
    """Asks a generator until it proposes a candidate the run has not tried, within a bound."""

    __slots__ = ("_attempts", "_check", "rejected")

    def __init__(self, check: RepeatCheck | None, attempts: int) -> None:
        self._check = check
        self._attempts = attempts
        self.rejected: tuple[Repeat, ...] = ()

    def ask(
        self, ctx: GenerationContext, propose: Callable[[GenerationContext], Candidate]
    ) -> Candidate:
        """A candidate that is not a repeat; the generator sees the repeats so far.

        Raises:
            RepeatedCandidateError: the generator answered with repeats only.
        """
        asked = 0
        while True:
            attempt = replace(ctx, repeats=self.rejected) if self.rejected else ctx
            candidate = propose(attempt)
            of = None if self._check is None else self._check(candidate.strategy)
            if of is None:
                return candidate
            self.rejected = (*self.rejected, Repeat(candidate, of))
            asked += 1
            if asked > self._attempts:
                tried = ", ".join(f"iteration {r.of_iteration}" for r in self.rejected[-asked:])
                raise RepeatedCandidateError(
                    f"all {asked} candidates proposed repeat ones already tried ({tried}); "
                    f"search.repeat_attempts={self._attempts} more were asked for after the "
                    "first. Raise search.repeat_attempts, or let the loop move on"
                )


def _failed(
    implementation: Implementation,
    decision: Decision,
    selected: str,
    fallback: Fallback | None,
    error: StratloopError,
    repeats: tuple[Repeat, ...] = (),
) -> GenerationOutcome:
    return GenerationOutcome(
        implementation=implementation,
        decision=decision,
        strategy_selected=selected,
        method_used=None,
        candidate=None,
        fallback=fallback,
        error_type=type(error).__name__,
        error_message=str(error),
        repeats=repeats,
    )


def _fallback(on_failure: FailurePolicy, exc: StratloopError) -> Fallback:
    name = type(exc).__name__
    if on_failure == "silent":
        reason = f"legacy: the LLM failed ({name}); the factor graph ran instead, unannounced"
    else:
        reason = (
            f"the LLM failed ({name}); `generation.on_llm_failure` is "
            "`fallback_to_factor_graph`, so the factor graph ran instead"
        )
    return Fallback(
        kind="silent" if on_failure == "silent" else "explicit",
        from_method="llm",
        to_method="factor_graph",
        reason=reason,
        error_type=name,
    )


def _checked(candidate: Candidate, method: GenerationMethod) -> Candidate:
    if candidate.method != method:
        raise GenerationError(
            f"the {method} generator returned a candidate marked {candidate.method!r}; "
            "a generator must mark its candidates with its own method"
        )
    return candidate
