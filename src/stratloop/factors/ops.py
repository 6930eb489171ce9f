"""The operator table: every function and infix operator of the DSL.

Each entry has a signature (argument kinds), a lookback rule, a vectorised
numpy kernel, its NaN semantics and its unit rule. The parser, the type checker, the
evaluator, the mutations and the generated reference all read this one table;
a duplicate name is an error when the module is imported.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal, TypeAlias

import numpy as np

from stratloop.factors import _crosssection as cs
from stratloop.factors import _elementwise as ew
from stratloop.factors import _timeseries as ts
from stratloop.factors.units import DIMENSIONLESS, PRICE, VOLUME, InfixRule, Unit, UnitRule

__all__ = [
    "FIELDS",
    "FIELD_UNITS",
    "INFIX",
    "OPERATORS",
    "ArgKind",
    "Category",
    "InfixOperator",
    "LookbackRule",
    "Operator",
    "Param",
    "build_table",
]

ArgKind: TypeAlias = Literal["panel", "num", "bool", "window", "const"]
"""panel: a numeric panel; num: panel or constant; bool: a condition;
window: an integer literal (rows); const: a number literal."""

Category: TypeAlias = Literal["time_series", "cross_section", "element_wise"]
LookbackRule: TypeAlias = Literal["window", "lag", "none"]
"""window: children + n - 1 rows; lag: children + n rows; none: the children's."""

FIELDS: Mapping[str, str] = MappingProxyType(
    {
        "close": "closing price",
        "open": "opening price (when the data has it)",
        "high": "daily high (when the data has it)",
        "low": "daily low (when the data has it)",
        "volume": "traded volume (when the data has it)",
        "returns": "derived: close / delay(close, 1) - 1",
    }
)
"""Every field name the grammar knows; a panel provides some of them."""

FIELD_UNITS: Mapping[str, Unit] = MappingProxyType(
    {
        "close": PRICE,
        "open": PRICE,
        "high": PRICE,
        "low": PRICE,
        "volume": VOLUME,
        "returns": DIMENSIONLESS,
    }
)
"""The unit of every field (see ``stratloop.factors.units``)."""


@dataclass(frozen=True, slots=True)
class Param:
    """One argument of an operator.

    Args:
        name: the argument's name in the reference.
        kind: what it accepts.
        minimum: smallest integer for ``window`` arguments.
    """

    name: str
    kind: ArgKind
    minimum: int = 1

    def describe(self) -> str:
        """``n: window >= 1`` style text."""
        if self.kind == "window":
            return f"{self.name}: int >= {self.minimum}"
        return f"{self.name}: {self.kind}"


@dataclass(frozen=True, slots=True)
class Operator:
    """A DSL function.

    Args:
        name: the function name in expressions.
        category: time series, cross section or element-wise.
        params: the arguments, in order.
        lookback: how the rows it needs before the first defined value grow.
        kernel: the numpy implementation; takes the evaluated arguments.
        summary: one line on what it computes.
        nan: what happens with NaN inputs.
        unit: how its output unit follows from its numeric arguments' units.
    """

    name: str
    category: Category
    params: tuple[Param, ...]
    lookback: LookbackRule
    kernel: Callable[..., Any]
    summary: str
    nan: str
    unit: UnitRule

    @property
    def signature(self) -> str:
        """``ts_mean(x: panel, n: int >= 1) -> panel`` style text."""
        args = ", ".join(param.describe() for param in self.params)
        result = "panel" if self.returns_panel else "num"
        return f"{self.name}({args}) -> {result}"

    @property
    def returns_panel(self) -> bool:
        """True unless all value arguments may be constants (element-wise)."""
        return any(param.kind == "panel" for param in self.params)

    @property
    def shape(self) -> tuple[ArgKind, ...]:
        """The argument kinds: operators with the same shape can be swapped."""
        return tuple(param.kind for param in self.params)

    @property
    def window_param(self) -> Param | None:
        """The integer window / lag argument, if any."""
        return next((param for param in self.params if param.kind == "window"), None)

    def rows_needed(self, children: Sequence[int], window: int) -> int:
        """Lookback of a call given its children's lookbacks and its window."""
        base = max(children, default=0)
        if self.lookback == "window":
            return base + window - 1
        if self.lookback == "lag":
            return base + window
        return base


@dataclass(frozen=True, slots=True)
class InfixOperator:
    """An infix operator: symbol, precedence, operand and result kinds, unit rule."""

    symbol: str
    precedence: int
    operands: Literal["num", "bool"]
    result: Literal["num", "bool"]
    kernel: Callable[..., Any]
    summary: str
    unit: InfixRule


def build_table(operators: Iterable[Operator]) -> Mapping[str, Operator]:
    """Index operators by name; a duplicate name is an error, never an override."""
    table: dict[str, Operator] = {}
    for operator in operators:
        if operator.name in table:
            msg = f"duplicate operator name {operator.name!r} in the operator table"
            raise ValueError(msg)
        table[operator.name] = operator
    return MappingProxyType(table)


_X = Param("x", "panel")
_Y = Param("y", "panel")
_A = Param("a", "num")
_B = Param("b", "num")
_STRICT = "NaN if any value in the window is NaN"
_ROW = "NaN assets are excluded from the row and stay NaN"
_SAME = "NaN in, NaN out"


def _n(minimum: int) -> Param:
    return Param("n", "window", minimum)


OPERATORS: Mapping[str, Operator] = build_table(
    [
        Operator("delay", "time_series", (_X, _n(0)), "lag", ts.delay,
                 "value n rows earlier", _SAME, "same"),
        Operator("delta", "time_series", (_X, _n(1)), "lag", ts.delta,
                 "x - delay(x, n)", _SAME, "difference"),
        Operator("pct_change", "time_series", (_X, _n(1)), "lag", ts.pct_change,
                 "x / delay(x, n) - 1", _SAME + "; NaN when the earlier value is 0", "ratio"),
        Operator("ts_mean", "time_series", (_X, _n(1)), "window", ts.ts_mean,
                 "mean of the last n rows", _STRICT, "same"),
        Operator("ts_std", "time_series", (_X, _n(2)), "window", ts.ts_std,
                 "sample standard deviation (ddof 1) of the last n rows", _STRICT, "difference"),
        Operator("ts_sum", "time_series", (_X, _n(1)), "window", ts.ts_sum,
                 "sum of the last n rows", _STRICT, "same"),
        Operator("ts_min", "time_series", (_X, _n(1)), "window", ts.ts_min,
                 "minimum of the last n rows", _STRICT, "same"),
        Operator("ts_max", "time_series", (_X, _n(1)), "window", ts.ts_max,
                 "maximum of the last n rows", _STRICT, "same"),
        Operator("ts_rank", "time_series", (_X, _n(2)), "window", ts.ts_rank,
                 "percentile rank (0, 1] of today's value among the last n, ties averaged",
                 _STRICT, "rank"),
        Operator("ts_zscore", "time_series", (_X, _n(2)), "window", ts.ts_zscore,
                 "(x - ts_mean(x, n)) / ts_std(x, n)",
                 _STRICT + "; NaN when the window is constant", "dimensionless"),
        Operator("ts_corr", "time_series", (_X, _Y, _n(2)), "window", ts.ts_corr,
                 "Pearson correlation of x and y over the last n rows",
                 _STRICT + " (in x or y); NaN when either is constant", "dimensionless"),
        Operator("ema", "time_series", (_X, _n(1)), "window", ts.ema,
                 "exponential moving average, alpha = 2 / (n + 1), started at a run's first value",
                 "a NaN ends the run; NaN until a run of n values", "same"),
        Operator("decay_linear", "time_series", (_X, _n(1)), "window", ts.decay_linear,
                 "weighted mean of the last n rows, weights n (today) down to 1", _STRICT, "same"),
        Operator("rank", "cross_section", (_X,), "none", cs.rank,
                 "percentile rank (0, 1] across assets, ties averaged", _ROW, "rank"),
        Operator("zscore", "cross_section", (_X,), "none", cs.zscore,
                 "(x - row mean) / row std (ddof 1)",
                 _ROW + "; NaN rows with fewer than 2 values or no spread", "dimensionless"),
        Operator("demean", "cross_section", (_X,), "none", cs.demean,
                 "x - row mean", _ROW, "same"),
        Operator("scale", "cross_section", (_X,), "none", cs.scale,
                 "x / row sum of |x|: absolute values sum to 1", _ROW + "; NaN if the sum is 0",
                 "dimensionless"),
        Operator("abs", "element_wise", (_A,), "none", ew.abs_, "absolute value", _SAME, "same"),
        Operator("sign", "element_wise", (_A,), "none", ew.sign, "-1, 0 or 1", _SAME,
                 "dimensionless"),
        Operator("log", "element_wise", (_A,), "none", ew.log,
                 "natural logarithm", _SAME + "; NaN for x <= 0", "log"),
        Operator("sqrt", "element_wise", (_A,), "none", ew.sqrt,
                 "square root", _SAME + "; NaN for x < 0", "sqrt"),
        Operator("clip", "element_wise", (_A, Param("lower", "const"), Param("upper", "const")),
                 "none", ew.clip, "x limited to [lower, upper] (number literals, lower <= upper)",
                 _SAME, "same"),
        Operator("where", "element_wise", (Param("cond", "bool"), _A, _B), "none", ew.where,
                 "a where cond holds, else b", "NaN where cond is undefined", "common"),
        Operator("min", "element_wise", (_A, _B), "none", ew.minimum,
                 "element-wise minimum", "NaN if either is NaN", "common"),
        Operator("max", "element_wise", (_A, _B), "none", ew.maximum,
                 "element-wise maximum", "NaN if either is NaN", "common"),
    ]
)
"""Every DSL function by name."""

INFIX: Mapping[str, InfixOperator] = MappingProxyType(
    {
        op.symbol: op
        for op in (
            InfixOperator("or", 1, "bool", "bool", ew.or_, "either condition holds", "logic"),
            InfixOperator("and", 2, "bool", "bool", ew.and_, "both conditions hold", "logic"),
            InfixOperator("<", 4, "num", "bool", ew.comparison(np.less), "less than", "compare"),
            InfixOperator(
                "<=", 4, "num", "bool", ew.comparison(np.less_equal), "less than or equal",
                "compare",
            ),
            InfixOperator(
                ">", 4, "num", "bool", ew.comparison(np.greater), "greater than", "compare"
            ),
            InfixOperator(
                ">=", 4, "num", "bool", ew.comparison(np.greater_equal), "greater than or equal",
                "compare",
            ),
            InfixOperator("==", 4, "num", "bool", ew.comparison(np.equal), "equal", "compare"),
            InfixOperator(
                "!=", 4, "num", "bool", ew.comparison(np.not_equal), "not equal", "compare"
            ),
            InfixOperator("+", 5, "num", "num", ew.add, "addition", "sum"),
            InfixOperator("-", 5, "num", "num", ew.subtract, "subtraction", "difference"),
            InfixOperator("*", 6, "num", "num", ew.multiply, "multiplication; inf becomes NaN",
                          "product"),
            InfixOperator("/", 6, "num", "num", ew.divide, "division; x / 0 is NaN", "quotient"),
        )
    }
)
"""Binary operators by symbol, with their precedence (higher binds tighter)."""
