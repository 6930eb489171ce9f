"""The factor-graph candidate source: sample a library factor, or mutate the champion."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import numpy as np

from stratloop.factors.grammar import FactorReferences
from stratloop.factors.library import FactorLibrary
from stratloop.factors.limits import Limits
from stratloop.factors.mutations import default_top_n, mutate
from stratloop.spec import Candidate, Lineage, Strategy, TopN

__all__ = ["FactorGraphGenerator"]


class _Champion(Protocol):
    @property
    def candidate(self) -> Candidate: ...


class _Context(Protocol):
    """What the generator reads of an iteration's context.

    ``stratloop.generation.GenerationContext`` satisfies it; spelling it out
    here keeps the factor layer free of the generation layer above it.
    """

    @property
    def rng(self) -> np.random.Generator: ...

    @property
    def champion(self) -> _Champion | None: ...

    @property
    def extras(self) -> Mapping[str, Any]: ...


class FactorGraphGenerator:
    """Proposes candidates by rewriting expression graphs (a ``CandidateSource``).

    Without a champion it samples a library template with the default
    portfolio rule; with one it mutates the champion, with a crossover partner
    drawn from ``ctx.extras["elite"]`` (a tuple of ``Strategy``) when present.
    It continues ``ctx.rng`` after the decision's draw and never re-seeds, so
    the same seed gives bit-identical candidates.

    Args:
        library: the factor templates (built-in plus the user's).
        limits: bounds every candidate respects.
        fields: the data's stored fields.
        max_attempts: mutation retries before a ``MutationError``.
        default_portfolio: the rule given to freshly sampled factors.
        n_assets: the number of assets, bounding top-N sizes.
        saved: the persistent library's factors, inserted by mutations as
            ``factor("name")`` leaves (see :func:`~stratloop.factors.mutate`).
    """

    def __init__(
        self,
        library: FactorLibrary,
        *,
        limits: Limits,
        fields: frozenset[str],
        max_attempts: int = 25,
        default_portfolio: TopN | None = None,
        n_assets: int | None = None,
        saved: FactorReferences | None = None,
    ) -> None:
        self.library = library
        self.saved = saved
        self.limits = limits
        self.fields = fields
        self.max_attempts = max_attempts
        self.n_assets = n_assets
        self.default_portfolio = default_portfolio or TopN(
            n=default_top_n(n_assets), rebalance_days=21
        )

    def propose(self, ctx: _Context) -> Candidate:
        """One candidate for this iteration (method ``factor_graph``)."""
        if ctx.champion is None:
            draw = self.library.draw(ctx.rng, fields=self.fields, limits=self.limits)
            strategy = Strategy(expression=draw.expr.text, portfolio=self.default_portfolio)
            lineage = Lineage(
                operator="sample",
                params={"factor": draw.template.name, "factor_params": dict(draw.values)},
            )
            return Candidate(strategy, "factor_graph", lineage)
        parent = ctx.champion.candidate.strategy
        elite = tuple(
            item
            for item in ctx.extras.get("elite", ())
            if isinstance(item, Strategy) and item != parent
        )
        other = elite[int(ctx.rng.integers(len(elite)))] if elite else None
        child, lineage = mutate(
            parent,
            ctx.rng,
            library=self.library,
            limits=self.limits,
            fields=self.fields,
            other=other,
            max_attempts=self.max_attempts,
            n_assets=self.n_assets,
            saved=self.saved,
        )
        return Candidate(child, "factor_graph", lineage)
