"""Hypothesis strategies for expressions and panels (shared by the factors tests)."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from stratloop.data.panel import Panel
from stratloop.factors import Binary, Call, Expr, Field, Neg, Not, Number
from stratloop.factors.ops import INFIX, OPERATORS

WINDOW_OPS = sorted(
    name for name, op in OPERATORS.items() if op.shape == ("panel", "window")
)
PANEL_OPS = sorted(name for name, op in OPERATORS.items() if op.shape == ("panel",))
NUM_OPS = sorted(name for name, op in OPERATORS.items() if op.shape == ("num",))
ARITHMETIC = ["+", "-", "*", "/"]
COMPARISONS = ["<", "<=", ">", ">=", "==", "!="]

numbers = st.floats(
    min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False
).map(Number)


def negate(expr: Expr) -> Expr:
    """Negation as the parser builds it."""
    if isinstance(expr, Number):
        return Number(-expr.value)
    return Neg(expr)


def _window_call(name: str, child: Expr, window: int) -> Expr:
    minimum = OPERATORS[name].params[1].minimum
    return Call(name, (child, Number(max(window, minimum))))


def _typed_extend(children: st.SearchStrategy[Expr]) -> st.SearchStrategy[Expr]:
    operand = st.one_of(children, numbers)
    condition = st.builds(
        lambda op, a, b: Binary(op, a, b), st.sampled_from(COMPARISONS), children, operand
    )
    return st.one_of(
        st.builds(_window_call, st.sampled_from(WINDOW_OPS), children, st.integers(0, 12)),
        st.builds(
            lambda name, c: Call(name, (c,)), st.sampled_from(PANEL_OPS + NUM_OPS), children
        ),
        st.builds(Binary, st.sampled_from(ARITHMETIC), children, operand),
        st.builds(lambda a, b: Binary("+", a, b), operand, children),
        children.map(negate),
        st.builds(lambda c, a, b: Call("where", (c, a, b)), condition, children, operand),
        st.builds(lambda a, b, n: Call("ts_corr", (a, b, Number(n))), children, children,
                  st.integers(2, 8)),
        st.builds(
            lambda c, lo, hi: Call("clip", (c, Number(min(lo, hi)), Number(max(lo, hi)))),
            children, st.integers(-5, 5), st.integers(-5, 5),
        ),
        st.builds(lambda name, a, b: Call(name, (a, b)), st.sampled_from(["min", "max"]),
                  children, operand),
    )


typed_exprs: st.SearchStrategy[Expr] = st.recursive(
    st.sampled_from([Field("close"), Field("returns")]), _typed_extend, max_leaves=8
)
"""Well-typed numeric panel expressions over close and returns."""


def _any_extend(children: st.SearchStrategy[Expr]) -> st.SearchStrategy[Expr]:
    return st.one_of(
        st.builds(lambda op, a, b: Binary(op, a, b), st.sampled_from(sorted(INFIX)), children,
                  children),
        children.map(negate),
        children.map(Not),
        st.builds(lambda name, args: Call(name, tuple(args)), st.sampled_from(sorted(OPERATORS)),
                  st.lists(children, max_size=3)),
    )


any_exprs: st.SearchStrategy[Expr] = st.recursive(
    st.one_of(numbers, st.sampled_from([Field("close"), Field("returns"), Field("volume")])),
    _any_extend,
    max_leaves=10,
)
"""Syntactically valid trees of every node kind (not necessarily well-typed)."""


def random_panel(seed: int, rows: int, cols: int, *, nan_share: float = 0.05) -> Panel:
    """A random-walk close panel with scattered NaN gaps."""
    rng = np.random.default_rng(seed)
    steps = rng.normal(0.0, 0.02, size=(rows, cols))
    close = 100.0 * np.exp(np.cumsum(steps, axis=0))
    close[rng.random((rows, cols)) < nan_share] = np.nan
    dates = np.datetime64("2020-01-01") + np.arange(rows)
    return Panel(dates, tuple(f"A{i}" for i in range(cols)), {"close": close})


def changed_after(panel: Panel, t: int, seed: int) -> Panel:
    """``panel`` with every close after row ``t`` replaced: the look-ahead tests' probe."""
    changed = panel.close.copy()
    rng = np.random.default_rng(seed + 1)
    changed[t + 1 :] = 100 * np.exp(rng.normal(0, 0.5, changed[t + 1 :].shape))
    return Panel(panel.dates, panel.assets, {"close": changed})


panels = st.builds(
    random_panel, st.integers(0, 2**32 - 1), st.integers(2, 40), st.integers(1, 6)
)
