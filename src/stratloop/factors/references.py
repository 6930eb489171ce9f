"""What ``factor("name")`` refers to: named expressions, resolved once, cycles refused.

:class:`FactorDefinitions` is the :class:`~stratloop.factors.grammar.FactorReferences`
a parse is given. Every definition is parsed when the definitions are built, each
reference inside one resolved to the definition it names, so a misspelt
definition, a reference to an unknown name or a cycle (``a`` uses ``b``, ``b``
uses ``a``) is an error then, naming the chain, never in the middle of a run.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from stratloop.errors import ExpressionError, ExpressionTypeError
from stratloop.factors.grammar import check_factor_name, parse
from stratloop.factors.limits import EVALUATION_LIMITS
from stratloop.factors.nodes import Expr

__all__ = ["FactorDefinitions"]


class _Resolving:
    """The definitions as one definition's parse sees them: the chain that led to it."""

    def __init__(self, owner: FactorDefinitions, chain: tuple[str, ...]) -> None:
        self._owner = owner
        self._chain = chain

    @property
    def names(self) -> tuple[str, ...]:
        return self._owner.names

    def resolve(self, name: str) -> Expr:
        return self._owner.resolve_within(name, self._chain)


class FactorDefinitions:
    """Named expressions that ``factor("name")`` stands for.

    Args:
        texts: each name's expression text (it may use ``factor("other")``).
        source: where they come from, for messages (a library directory).

    Raises:
        ExpressionError: a name is not a valid factor name, a definition does
            not parse, refers to an unknown name, or to itself through others;
            the message names the definition and the chain.
    """

    def __init__(self, texts: Mapping[str, str], *, source: str = "the factor library") -> None:
        for name in texts:
            problem = check_factor_name(name)
            if problem is not None:
                raise ExpressionTypeError(f"{source}: {problem}", token=name)
        self.source = source
        self._texts = MappingProxyType(dict(texts))
        self._names = tuple(sorted(texts))
        self._bodies: dict[str, Expr] = {}
        for name in self._names:
            self.resolve_within(name, ())

    @property
    def names(self) -> tuple[str, ...]:
        """Every defined name, sorted."""
        return self._names

    def __len__(self) -> int:
        return len(self._names)

    def __contains__(self, name: object) -> bool:
        return name in self._texts

    def text(self, name: str) -> str:
        """The definition of ``name`` as written."""
        return self._texts[name]

    def resolve(self, name: str) -> Expr:
        """The expression ``name`` stands for (its own references resolved too)."""
        return self._bodies[name]

    def resolve_within(self, name: str, chain: tuple[str, ...]) -> Expr:
        """Resolve ``name`` reached through ``chain``; a name already in the chain is a cycle."""
        known = self._bodies.get(name)
        if known is not None:
            return known
        if name in chain:
            cycle = " -> ".join(f'factor("{link}")' for link in (*chain[chain.index(name) :], name))
            raise ExpressionTypeError(
                f"{self.source}: library factors refer to each other in a cycle: {cycle}",
                token=name,
                suggestion="a library factor must not use itself; write it out instead",
            )
        try:
            body = parse(
                self._texts[name],
                limits=EVALUATION_LIMITS,
                factors=_Resolving(self, (*chain, name)),
            )
        except ExpressionError as error:
            if chain:
                raise
            raise type(error)(
                f'{self.source}: factor("{name}") is not a valid expression: {error.reason}',
                expression=error.expression,
                position=error.position,
                token=error.token,
                suggestion=error.suggestion,
            ) from error
        self._bodies[name] = body
        return body
