"""Evaluate an expression on a panel: the DAG, bottom-up, each subtree once.

A subexpression that appears twice is computed once (by canonical key); with
an :class:`EvalCache` it is also shared across calls and candidates. The
value at row t uses rows <= t only: every time-series kernel looks back, and
cross-sectional kernels look across one row.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from stratloop._types import FloatPanel
from stratloop.data.panel import Panel
from stratloop.factors import _elementwise as ew
from stratloop.factors._elementwise import Value
from stratloop.factors._timeseries import pct_change
from stratloop.factors.cache import EvalCache
from stratloop.factors.grammar import FactorReferences, parse
from stratloop.factors.graph import ExprGraph, inline
from stratloop.factors.limits import EVALUATION_LIMITS
from stratloop.factors.nodes import Binary, Call, Expr, Field, Neg, Not, Number, Ref
from stratloop.factors.ops import INFIX, OPERATORS
from stratloop.factors.typecheck import typecheck

__all__ = ["evaluate"]


_PARALLEL_SIZE = 1_000_000
"""From this many panel values on, independent subexpressions run on threads."""


def _heights(graph: ExprGraph) -> dict[str, int]:
    """Each node's height: leaves 0, else 1 + its tallest child."""
    heights: dict[str, int] = {}
    for node in graph.topological():
        heights[node.key] = 1 + max((heights[c.key] for c in node.children), default=-1)
    return heights


_IN_PLACE = frozenset({"+", "-", "*", "/"})
"""Infix operators that may write their result into an operand no longer needed."""


def _consumers(graph: ExprGraph) -> dict[str, int]:
    """How many argument slots of distinct nodes read each key."""
    pending: dict[str, int] = {}
    for children in graph.edges.values():
        for child in children:
            pending[child] = pending.get(child, 0) + 1
    return pending


class _Evaluator:
    """One evaluation: a memo of computed nodes, released as soon as their last reader ran.

    Without a shared cache the intermediate panels belong to this evaluation,
    so an operand read for the last time is dropped (its memory is reused by
    the next node instead of new pages from the system, which cost as much as
    a cheap kernel) and an infix operator may write its result into it.
    Only operator calls and ``returns`` go through the shared cache: an
    infix, negation or ``not`` node is recomputed faster than a cached copy
    costs in fresh memory, and its result stays free for in-place reuse.
    """

    def __init__(self, panel: Panel, cache: EvalCache | None, graph: ExprGraph) -> None:
        self.panel = panel
        self.cache = cache
        self.graph = graph
        self.memo: dict[str, Value] = {}
        self.pending = _consumers(graph)
        self.owned: set[str] = set()
        self.lock = threading.Lock()

    def parallel(self, workers: int) -> Value:
        """Evaluate level by level; nodes of one level are independent, so they share threads.

        numpy releases the GIL inside its loops, so on a large panel two
        time-series or cross-sectional kernels really run at once.
        """
        heights = _heights(self.graph)
        levels: dict[int, list[Expr]] = {}
        for node in self.graph.topological():
            levels.setdefault(heights[node.key], []).append(node)
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for height in sorted(levels):
                list(pool.map(self.quiet_value, levels[height]))
        return self.value(self.graph.root)

    def quiet_value(self, node: Expr) -> Value:
        """``value`` with numpy's floating-point warnings off (errstate is per thread)."""
        with np.errstate(all="ignore"):
            return self.value(node)

    def value(self, node: Expr) -> Value:
        known = self.memo.get(node.key)
        if known is not None:
            return known
        if isinstance(node, Number):
            return node.value
        if isinstance(node, Field) and node.name != "returns":
            return self.panel.fields[node.name]
        shared = self.cache if isinstance(node, Call | Field) else None
        cached = shared.get(self.panel, node.key) if shared is not None else None
        if cached is not None:
            result: Value = cached
        else:
            result = self.compute(node)
            fresh = self.fresh(node, result)
            self.release(node)
            if shared is not None and isinstance(result, np.ndarray):
                result = shared.put(self.panel, node.key, result)
            elif fresh:
                with self.lock:
                    self.owned.add(node.key)
        self.memo[node.key] = result
        return result

    def fresh(self, node: Expr, result: Value) -> bool:
        """Whether ``result`` is a new array of its own, not a view or one of the inputs."""
        if not isinstance(result, np.ndarray) or result.base is not None:
            return False
        return all(result is not self.memo.get(child) for child in self.graph.edges[node.key])

    def release(self, node: Expr) -> None:
        """Count ``node``'s reads of its children; drop owned children nobody else reads."""
        with self.lock:
            for child in self.graph.edges[node.key]:
                self.pending[child] -= 1
                if self.pending[child] == 0 and child in self.owned:
                    self.owned.discard(child)
                    self.memo.pop(child, None)

    def spare(self, node: Expr) -> FloatPanel | None:
        """An owned array that only this one remaining read needs, free to be overwritten."""
        value = self.memo.get(node.key)
        with self.lock:
            if node.key in self.owned and self.pending[node.key] == 1:
                return value if isinstance(value, np.ndarray) else None
        return None

    def infix(self, node: Binary) -> Value:
        """An infix operator, in place when an operand panel is spare and of the result's shape."""
        left, right = self.value(node.left), self.value(node.right)
        kernel = INFIX[node.op].kernel
        if node.op in _IN_PLACE and node.left.key != node.right.key:
            for operand in (node.left, node.right):
                spare = self.spare(operand)
                if spare is not None and spare.shape == np.broadcast_shapes(
                    np.shape(left), np.shape(right)
                ):
                    return kernel(left, right, out=spare)  # type: ignore[no-any-return]
        return kernel(left, right)  # type: ignore[no-any-return]

    def compute(self, node: Expr) -> Value:  # noqa: C901 - one case per node kind
        match node:
            case Field():
                return pct_change(self.panel.close, 1)
            case Neg():
                return ew.negate(self.value(node.operand))
            case Not():
                return ew.not_(self.value(node.operand))
            case Binary():
                return self.infix(node)
            case Call():
                operator = OPERATORS[node.name]
                args: list[Value | int] = []
                for param, arg in zip(operator.params, node.args, strict=True):
                    if param.kind == "window":
                        args.append(int(arg.value) if isinstance(arg, Number) else 0)
                    elif param.kind == "const":
                        args.append(arg.value if isinstance(arg, Number) else 0.0)
                    else:
                        args.append(self.value(arg))
                return operator.kernel(*args)  # type: ignore[no-any-return]
            case Number():
                return node.value
            case Ref():
                msg = f"{node.text} reached the evaluator; evaluate() inlines references first"
                raise AssertionError(msg)


def evaluate(
    expr: Expr | str,
    panel: Panel,
    *,
    cache: EvalCache | None = None,
    factors: FactorReferences | None = None,
) -> FloatPanel:
    """The signal panel (dates x assets) of an expression; NaN where undefined.

    Args:
        expr: a parsed expression or its text (parsed with the widest limits).
        panel: the data; ``returns`` is derived from ``close``.
        cache: an optional cache shared across calls; results taken from or
            stored in it are read-only.
        factors: what ``factor("name")`` in ``expr``'s text refers to. A
            library factor is evaluated as its inlined expression, so the
            signal is exactly the inlined expression's.

    Raises:
        ExpressionError: the text does not parse or the expression is not a
            numeric signal on this panel's fields.

    >>> import numpy as np
    >>> from stratloop.data import Panel
    >>> dates = np.arange("2024-01-01", "2024-01-04", dtype="datetime64[D]")
    >>> panel = Panel(dates, ("A", "B"), {"close": np.array([[1.0, 4.0], [2.0, 2.0], [3.0, 1.0]])})
    >>> evaluate("rank(delta(close, 1))", panel)
    array([[nan, nan],
           [1. , 0.5],
           [1. , 0.5]])
    """
    if isinstance(expr, str):
        expr = parse(expr, limits=EVALUATION_LIMITS, factors=factors)
    tree = inline(expr)
    typecheck(tree, fields=frozenset(panel.fields), limits=EVALUATION_LIMITS, units=False)
    evaluator = _Evaluator(panel, cache, ExprGraph.build(tree))
    workers = min(os.cpu_count() or 1, 4)
    with np.errstate(all="ignore"):
        if workers > 1 and panel.close.size >= _PARALLEL_SIZE and tree.size > 2:
            result = evaluator.parallel(workers)
        else:
            result = evaluator.value(tree)
    assert isinstance(result, np.ndarray)
    return result
