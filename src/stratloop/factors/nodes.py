"""Typed, frozen expression nodes and their canonical text.

The canonical text is the identity of an expression: ``parse(str(e)) == e``,
two nodes are equal exactly when their texts are, and ``key`` (the sha256 of
the text) names it in caches and graphs. Size, depth, fields and lookback are
derived from the tree, never stored separately.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from functools import cached_property
from typing import ClassVar, TypeAlias, cast

from stratloop.factors.ops import INFIX, OPERATORS

__all__ = [
    "ATOM_PRECEDENCE",
    "NEG_PRECEDENCE",
    "NOT_PRECEDENCE",
    "Binary",
    "Call",
    "Expr",
    "Field",
    "Neg",
    "Not",
    "Number",
    "Ref",
]

NOT_PRECEDENCE = 3
NEG_PRECEDENCE = 7
ATOM_PRECEDENCE = 8

_RETURNS_LOOKBACK = 1


def _format_number(value: float) -> str:
    """Canonical text of a number: integers without a point, others as ``repr``."""
    if value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    return repr(value)


class _Node:
    """Behaviour shared by every node: identity by canonical text."""

    __slots__ = ()

    _PRECEDENCE: ClassVar[int] = ATOM_PRECEDENCE
    """How tightly nodes of the class bind when printed; atoms never need parentheses."""

    @property
    def precedence(self) -> int:
        """The class's :attr:`_PRECEDENCE`; a node whose own fields decide it overrides this."""
        return self._PRECEDENCE

    @cached_property
    def text(self) -> str:
        """The canonical text."""
        return _render(cast("Expr", self))

    @cached_property
    def key(self) -> str:
        """sha256 hex digest of the canonical text: a stable id."""
        return hashlib.sha256(self.text.encode()).hexdigest()

    def __str__(self) -> str:
        return self.text

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Node) and type(self) is type(other) and self.text == other.text

    def __hash__(self) -> int:
        return hash(self.text)


class _Leaf(_Node):
    """Derived properties of nodes without children (numbers and fields)."""

    __slots__ = ()

    @property
    def children(self) -> tuple[Expr, ...]:
        """No children."""
        return ()

    @cached_property
    def size(self) -> int:
        """Number of nodes."""
        return 1

    @cached_property
    def depth(self) -> int:
        """Nesting depth (a leaf is 1)."""
        return 1


def _child_text(child: Expr, needs_parens: bool) -> str:
    return f"({child.text})" if needs_parens else child.text


@dataclass(frozen=True, eq=False)
class Number(_Leaf):
    """A finite number literal; -0.0 is normalised to 0.0."""

    value: float

    def __post_init__(self) -> None:
        value = float(self.value)
        if not math.isfinite(value):
            msg = f"a number literal must be finite, got {value!r}"
            raise ValueError(msg)
        object.__setattr__(self, "value", value + 0.0)

    @property
    def precedence(self) -> int:
        """Negative numbers print with a leading minus, like a negation."""
        return NEG_PRECEDENCE if self.value < 0 else ATOM_PRECEDENCE

    @cached_property
    def fields(self) -> frozenset[str]:
        """Panel fields used: none."""
        return frozenset()

    @cached_property
    def lookback(self) -> int:
        """A constant needs no earlier rows."""
        return 0


@dataclass(frozen=True, eq=False)
class Field(_Leaf):
    """A panel field such as ``close`` or the derived ``returns``."""

    name: str

    @cached_property
    def fields(self) -> frozenset[str]:
        """Panel fields used."""
        return frozenset({self.name})

    @cached_property
    def lookback(self) -> int:
        """``returns`` needs one earlier row; stored fields none."""
        return _RETURNS_LOOKBACK if self.name == "returns" else 0


class _Inner(_Node):
    """Derived properties of nodes with children."""

    __slots__ = ()

    @property
    def children(self) -> tuple[Expr, ...]:
        """The direct subexpressions."""
        return _children(cast("Expr", self))

    @cached_property
    def size(self) -> int:
        """Number of nodes."""
        return 1 + sum(child.size for child in self.children)

    @cached_property
    def depth(self) -> int:
        """Nesting depth (a leaf is 1)."""
        return 1 + max(child.depth for child in self.children)

    @cached_property
    def fields(self) -> frozenset[str]:
        """Panel fields used."""
        return frozenset().union(*(child.fields for child in self.children))

    @cached_property
    def lookback(self) -> int:
        """Rows needed before the first defined value."""
        return max(child.lookback for child in self.children)


@dataclass(frozen=True, eq=False)
class Call(_Inner):
    """A function call ``name(arg, ...)``; the name is in the operator table."""

    name: str
    args: tuple[Expr, ...]

    @cached_property
    def depth(self) -> int:
        """Nesting depth (a leaf is 1)."""
        return 1 + max((arg.depth for arg in self.args), default=0)

    @cached_property
    def lookback(self) -> int:
        """From the operator's rule and its window argument."""
        operator = OPERATORS.get(self.name)
        children = [arg.lookback for arg in self.args]
        if operator is None or operator.window_param is None:
            return max(children, default=0)
        index = operator.params.index(operator.window_param)
        window_arg = self.args[index] if index < len(self.args) else None
        window = int(window_arg.value) if isinstance(window_arg, Number) else 0
        values = [lb for position, lb in enumerate(children) if position != index]
        return operator.rows_needed(values, window)


@dataclass(frozen=True, eq=False)
class Neg(_Inner):
    """Unary minus. A literal's minus belongs to the literal: use ``Number(-v)``."""

    operand: Expr

    _PRECEDENCE = NEG_PRECEDENCE
    """Binds tighter than ``*``."""

    def __post_init__(self) -> None:
        if isinstance(self.operand, Number) and self.operand.value >= 0:
            msg = f"write -{self.operand.text} as Number({-self.operand.value!r}), not Neg"
            raise ValueError(msg)


@dataclass(frozen=True, eq=False)
class Not(_Inner):
    """Logical ``not``."""

    operand: Expr

    _PRECEDENCE = NOT_PRECEDENCE
    """Looser than comparisons, tighter than ``and``."""


@dataclass(frozen=True, eq=False)
class Binary(_Inner):
    """An infix operation; all infix operators are left-associative."""

    op: str
    left: Expr
    right: Expr

    def __post_init__(self) -> None:
        if self.op not in INFIX:
            msg = f"unknown infix operator {self.op!r}; known: {sorted(INFIX)}"
            raise ValueError(msg)

    @property
    def precedence(self) -> int:
        """From the infix table."""
        return INFIX[self.op].precedence


@dataclass(frozen=True, eq=False)
class Ref(_Leaf):
    """``factor("name")``: a factor of the persistent library, with its resolved expression.

    It stands for ``body`` wherever a value matters: size, depth, fields,
    lookback, unit, evaluation and canonical form are the body's, so limits,
    units and trial keys are those of the inlined expression. Only the text
    keeps the name, so that ``parse(str(e), factors=...) == e``. It is a leaf
    of the graph: mutations treat a library factor as one unit.
    """

    name: str
    body: Expr

    @cached_property
    def key(self) -> str:
        """The name and the body: two libraries may give one name different expressions."""
        return hashlib.sha256(f"{self.text}={self.body.text}".encode()).hexdigest()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Ref) and self.key == other.key

    def __hash__(self) -> int:
        return hash(self.key)

    @cached_property
    def size(self) -> int:
        """The body's: limits bound the expression that is evaluated."""
        return self.body.size

    @cached_property
    def depth(self) -> int:
        """The body's."""
        return self.body.depth

    @cached_property
    def fields(self) -> frozenset[str]:
        """The body's fields."""
        return self.body.fields

    @cached_property
    def lookback(self) -> int:
        """The body's lookback."""
        return self.body.lookback


Expr: TypeAlias = Number | Field | Call | Neg | Not | Binary | Ref
"""Any expression node."""


def _children(node: Expr) -> tuple[Expr, ...]:
    match node:
        case Call():
            return node.args
        case Neg() | Not():
            return (node.operand,)
        case Binary():
            return (node.left, node.right)
        case _:
            return ()


def _render(node: Expr) -> str:  # noqa: PLR0911 - one return per node kind
    match node:
        case Number():
            return _format_number(node.value)
        case Field():
            return node.name
        case Ref():
            return f'factor("{node.name}")'
        case Call():
            return f"{node.name}({', '.join(arg.text for arg in node.args)})"
        case Neg():
            return "-" + _child_text(node.operand, node.operand.precedence < NEG_PRECEDENCE)
        case Not():
            return "not " + _child_text(node.operand, node.operand.precedence < NOT_PRECEDENCE)
        case Binary():
            mine = node.precedence
            left = _child_text(node.left, node.left.precedence < mine)
            right = _child_text(node.right, node.right.precedence <= mine)
            return f"{left} {node.op} {right}"
