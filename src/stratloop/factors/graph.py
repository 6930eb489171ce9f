"""The expression as a DAG: subexpressions identified by canonical key.

Identical subtrees (``ts_min(close, 55)`` twice in a breakout factor) are one
node of the graph, used twice. Mutations address a subtree by its path (child
indices from the root) and rebuild the tree around the replacement.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TypeAlias

from stratloop.factors.nodes import Binary, Call, Expr, Neg, Not, Number, Ref

__all__ = [
    "ExprGraph",
    "Path",
    "inline",
    "replace_all",
    "replace_at",
    "subtrees",
    "with_children",
]

Path: TypeAlias = tuple[int, ...]
"""Child indices from the root to a subtree; ``()`` is the root."""


def subtrees(expr: Expr) -> list[tuple[Path, Expr]]:
    """Every subtree with its path, in pre-order (root first)."""
    found: list[tuple[Path, Expr]] = []
    stack: list[tuple[Path, Expr]] = [((), expr)]
    while stack:
        path, node = stack.pop()
        found.append((path, node))
        stack.extend(
            ((*path, index), child) for index, child in reversed(list(enumerate(node.children)))
        )
    return found


def with_children(node: Expr, children: tuple[Expr, ...]) -> Expr:
    """``node`` with new children (a negated literal folds into the literal)."""
    match node:
        case Call():
            return Call(node.name, children)
        case Neg():
            (operand,) = children
            if isinstance(operand, Number) and operand.value >= 0:
                return Number(-operand.value)
            return Neg(operand)
        case Not():
            return Not(children[0])
        case Binary():
            return Binary(node.op, children[0], children[1])
        case _:
            return node


def inline(expr: Expr) -> Expr:
    """``expr`` with every ``factor("name")`` replaced by the expression it stands for.

    What is evaluated and recorded: a strategy's recorded expression never
    depends on the library, which may change after the run.
    """
    if isinstance(expr, Ref):
        return inline(expr.body)
    if not expr.children:
        return expr
    children = tuple(inline(child) for child in expr.children)
    if children == expr.children:
        return expr
    return with_children(expr, children)


def replace_at(expr: Expr, path: Path, replacement: Expr) -> Expr:
    """A copy of ``expr`` with the subtree at ``path`` replaced."""
    if not path:
        return replacement
    head, rest = path[0], path[1:]
    children = list(expr.children)
    children[head] = replace_at(children[head], rest, replacement)
    return with_children(expr, tuple(children))


def replace_all(expr: Expr, target: Expr, replacement: Expr) -> Expr:
    """A copy of ``expr`` with every occurrence of ``target`` (same key) replaced.

    Rewriting a shared node of the DAG rewrites all its uses, so a factor that
    uses ``ts_min(close, 55)`` twice keeps both in step.
    """
    if expr.key == target.key:
        return replacement
    if not expr.children:
        return expr
    children = tuple(replace_all(child, target, replacement) for child in expr.children)
    if children == expr.children:
        return expr
    return with_children(expr, children)


@dataclass(frozen=True, slots=True)
class ExprGraph:
    """The DAG view of an expression.

    Args:
        root: the expression.
        nodes: every distinct subexpression by key.
        edges: each key's children keys, in argument order.
        uses: how many times each key occurs in the tree.
    """

    root: Expr
    nodes: Mapping[str, Expr]
    edges: Mapping[str, tuple[str, ...]]
    uses: Mapping[str, int]

    @classmethod
    def build(cls, root: Expr) -> ExprGraph:
        """The graph of ``root``."""
        nodes: dict[str, Expr] = {}
        edges: dict[str, tuple[str, ...]] = {}
        uses: dict[str, int] = {}
        for _, node in subtrees(root):
            uses[node.key] = uses.get(node.key, 0) + 1
            if node.key not in nodes:
                nodes[node.key] = node
                edges[node.key] = tuple(child.key for child in node.children)
        return cls(root, MappingProxyType(nodes), MappingProxyType(edges), MappingProxyType(uses))

    @property
    def shared(self) -> tuple[Expr, ...]:
        """Non-leaf subexpressions that occur more than once (computed once)."""
        return tuple(
            node for key, node in self.nodes.items() if self.uses[key] > 1 and node.children
        )

    def topological(self) -> tuple[Expr, ...]:
        """Distinct subexpressions, children before parents."""
        order: list[Expr] = []
        seen: set[str] = set()
        stack: list[tuple[str, bool]] = [(self.root.key, False)]
        while stack:
            key, expanded = stack.pop()
            if expanded:
                order.append(self.nodes[key])
                continue
            if key in seen:
                continue
            seen.add(key)
            stack.append((key, True))
            stack.extend((child, False) for child in reversed(self.edges[key]))
        return tuple(order)
