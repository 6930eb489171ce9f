"""Evaluate an expression on a panel: the DAG, bottom-up, each subtree once.

A subexpression that appears twice is computed once (by canonical key); with
an :class:`EvalCache` it is also shared across calls and candidates. The
value at row t uses rows <= t only: every time-series kernel looks back, and
cross-sectional kernels look across one row.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from stratloop._types import FloatPanel
from stratloop.backtest.panel import Panel
from stratloop.factors import _elementwise as ew
from stratloop.factors._elementwise import Value
from stratloop.factors._timeseries import pct_change
from stratloop.factors.cache import EvalCache
from stratloop.factors.grammar import parse
from stratloop.factors.graph import ExprGraph
from stratloop.factors.limits import EVALUATION_LIMITS
from stratloop.factors.nodes import Binary, Call, Expr, Field, Neg, Not, Number
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


class _Evaluator:
    def __init__(self, panel: Panel, cache: EvalCache | None) -> None:
        self.panel = panel
        self.cache = cache
        self.memo: dict[str, Value] = {}

    def parallel(self, root: Expr, workers: int) -> Value:
        """Evaluate level by level; nodes of one level are independent, so they share threads.

        numpy releases the GIL inside its loops, so on a large panel two
        time-series or cross-sectional kernels really run at once.
        """
        graph = ExprGraph.build(root)
        heights = _heights(graph)
        levels: dict[int, list[Expr]] = {}
        for node in graph.topological():
            levels.setdefault(heights[node.key], []).append(node)
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for height in sorted(levels):
                list(pool.map(self.quiet_value, levels[height]))
        return self.value(root)

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
        cached = self.cache.get(self.panel, node.key) if self.cache is not None else None
        result: Value = cached if cached is not None else self.compute(node)
        if cached is None and self.cache is not None and isinstance(result, np.ndarray):
            result = self.cache.put(self.panel, node.key, result)
        self.memo[node.key] = result
        return result

    def compute(self, node: Expr) -> Value:
        match node:
            case Field():
                return pct_change(self.panel.close, 1)
            case Neg():
                return ew.negate(self.value(node.operand))
            case Not():
                return ew.not_(self.value(node.operand))
            case Binary():
                return INFIX[node.op].kernel(self.value(node.left), self.value(node.right))  # type: ignore[no-any-return]
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


def evaluate(expr: Expr | str, panel: Panel, *, cache: EvalCache | None = None) -> FloatPanel:
    """The signal panel (dates x assets) of an expression; NaN where undefined.

    Args:
        expr: a parsed expression or its text (parsed with the widest limits).
        panel: the data; ``returns`` is derived from ``close``.
        cache: an optional cache shared across calls; results taken from or
            stored in it are read-only.

    Raises:
        ExpressionError: the text does not parse or the expression is not a
            numeric signal on this panel's fields.

    >>> import numpy as np
    >>> from stratloop.backtest.panel import Panel
    >>> dates = np.arange("2024-01-01", "2024-01-04", dtype="datetime64[D]")
    >>> panel = Panel(dates, ("A", "B"), {"close": np.array([[1.0, 4.0], [2.0, 2.0], [3.0, 1.0]])})
    >>> evaluate("rank(delta(close, 1))", panel)
    array([[nan, nan],
           [1. , 0.5],
           [1. , 0.5]])
    """
    tree = parse(expr, limits=EVALUATION_LIMITS) if isinstance(expr, str) else expr
    typecheck(tree, fields=frozenset(panel.fields), limits=EVALUATION_LIMITS)
    evaluator = _Evaluator(panel, cache)
    workers = min(os.cpu_count() or 1, 4)
    with np.errstate(all="ignore"):
        if workers > 1 and panel.close.size >= _PARALLEL_SIZE and tree.size > 2:
            result = evaluator.parallel(tree, workers)
        else:
            result = evaluator.value(tree)
    assert isinstance(result, np.ndarray)
    return result
