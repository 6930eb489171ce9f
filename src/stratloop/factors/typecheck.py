"""Types of expressions: numeric or boolean, panel or constant, and a unit.

Checks arity, argument kinds, integer windows within ``[minimum,
max_window]`` (so lags are never negative), that fields exist in the panel,
that units combine (no price plus volume), that cross-sectional operators get
scale-free inputs, and that the whole expression is a scale-free numeric
panel: a signal the portfolio selection can compare across assets.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, NoReturn

from stratloop.errors import ExpressionLimitError, ExpressionTypeError
from stratloop.factors._suggest import did_you_mean
from stratloop.factors.limits import Limits
from stratloop.factors.nodes import Binary, Call, Expr, Field, Neg, Not, Number, Ref
from stratloop.factors.ops import FIELD_UNITS, INFIX, OPERATORS, Param
from stratloop.factors.units import (
    CONSTANT,
    DIMENSIONLESS,
    INFIX_RULES,
    MIXED,
    UNIT_RULES,
    Unit,
    UnitClashError,
)

__all__ = ["ExprType", "available_fields", "infer_type", "typecheck"]


@dataclass(frozen=True, slots=True)
class ExprType:
    """What an expression evaluates to.

    Args:
        value: ``num`` for numbers, ``bool`` for conditions (1.0 / 0.0 / NaN).
        panel: True for a dates x assets panel, False for a constant.
        unit: the unit of its values (dimensionless for conditions).
    """

    value: Literal["num", "bool"]
    panel: bool
    unit: Unit = DIMENSIONLESS

    def describe(self) -> str:
        """``numeric panel``, ``constant condition``, ..."""
        value = "numeric" if self.value == "num" else "condition"
        return f"{value} {'panel' if self.panel else 'constant'}"


_WHY = (
    "back-adjusted levels encode future splits and dividends and are not comparable "
    "across stocks"
)


def _scale_free_hint(node: Expr) -> str:
    base = node.text if isinstance(node, Field | Call) else "close"
    return (
        f"use a ratio such as `{base} / delay({base}, 20)` "
        f"or a time-series rank `ts_rank({base}, 20)`"
    )


def available_fields(stored: frozenset[str] | set[str]) -> frozenset[str]:
    """Fields an expression may use on a panel with these stored fields (adds ``returns``)."""
    return frozenset(stored) | ({"returns"} if "close" in stored else set())


class _Checker:
    def __init__(self, root: Expr, fields: frozenset[str], limits: Limits, *, units: bool) -> None:
        self.text = root.text
        self.fields = fields
        self.limits = limits
        self.units = units

    def derive(self, node: Expr, derivation: Callable[[], Unit], *, panel: bool) -> Unit:
        """A unit from ``derivation``; a clash fails only when units are enforced.

        A panel built from number literals alone (``where(cond, 1, 0)``) is dimensionless.
        """
        try:
            unit = derivation()
        except UnitClashError as error:
            if self.units:
                self.fail(f"unit error: {error}", node, "combine values of the same unit")
            return MIXED
        return DIMENSIONLESS if panel and unit == CONSTANT else unit

    def scale_free(self, node: Expr, unit: Unit, user: str) -> None:
        """Fail unless ``node`` (of ``unit``) may be compared across assets by ``user``."""
        if self.units and not unit.scale_free:
            self.fail(
                f"unit error: {user} needs a scale-free input (a return, a ratio of same-unit "
                f"series or a rank) but `{node.text}` is a level (unit: {unit.describe()}): {_WHY}",
                node,
                _scale_free_hint(node),
            )

    def fail(self, message: str, node: Expr, suggestion: str | None = None) -> NoReturn:
        position = self.text.find(node.text)
        raise ExpressionTypeError(
            message,
            expression=self.text,
            position=position if position >= 0 else None,
            token=node.text,
            suggestion=suggestion,
        )

    def infer(self, node: Expr) -> ExprType:  # noqa: PLR0911 - one return per node kind
        match node:
            case Number():
                return ExprType("num", panel=False, unit=CONSTANT)
            case Field():
                return self.field(node)
            case Ref():
                return self.infer(node.body)
            case Call():
                return self.call(node)
            case Neg():
                operand = self.infer(node.operand)
                if operand.value != "num":
                    self.fail("cannot negate a condition; use not", node)
                return operand
            case Not():
                operand = self.infer(node.operand)
                if operand.value != "bool":
                    self.fail("not needs a condition (a comparison)", node, "use -x to negate")
                return operand
            case Binary():
                return self.binary(node)

    def field(self, node: Field) -> ExprType:
        if node.name not in self.fields:
            self.fail(
                f"field {node.name!r} is not in this data "
                f"(fields: {', '.join(sorted(self.fields))})",
                node,
                did_you_mean(node.name, self.fields),
            )
        return ExprType("num", panel=True, unit=FIELD_UNITS[node.name])

    def binary(self, node: Binary) -> ExprType:
        infix = INFIX[node.op]
        left = self.infer(node.left)
        right = self.infer(node.right)
        for side in (left, right):
            if side.value != infix.operands:
                wanted = "numbers" if infix.operands == "num" else "conditions"
                hint = "use where(cond, 1, 0) to turn a condition into a number"
                if infix.operands == "bool":
                    hint = "compare first, e.g. x > 0"
                self.fail(f"{node.op!r} needs {wanted} but got a {side.describe()}", node, hint)
        rule = INFIX_RULES[infix.unit]
        panel = left.panel or right.panel
        unit = self.derive(node, lambda: rule(left.unit, right.unit), panel=panel)
        return ExprType(infix.result, panel=panel, unit=unit)

    def call(self, node: Call) -> ExprType:
        operator = OPERATORS[node.name]
        if len(node.args) != len(operator.params):
            self.fail(
                f"{node.name} takes {len(operator.params)} argument"
                f"{'s' * (len(operator.params) != 1)} but got {len(node.args)}",
                node,
                f"signature: {operator.signature}",
            )
        panel = False
        units: list[Unit] = []
        for param, arg in zip(operator.params, node.args, strict=True):
            kind = self.argument(node, param, arg)
            panel = panel or (kind is not None and kind.panel)
            if kind is not None and kind.value == "num":
                units.append(kind.unit)
                if operator.category == "cross_section":
                    self.scale_free(arg, kind.unit, f"{node.name} (cross-sectional)")
        if node.name == "clip":
            lower, upper = node.args[1], node.args[2]
            reversed_bounds = isinstance(lower, Number) and isinstance(upper, Number)
            if reversed_bounds and lower.value > upper.value:  # type: ignore[union-attr]
                self.fail(f"clip bounds are reversed: {lower.text} > {upper.text}", node)
        rule = UNIT_RULES[operator.unit]
        unit = self.derive(node, lambda: rule(units), panel=panel)
        return ExprType("num", panel=panel, unit=unit)

    def argument(self, call: Call, param: Param, arg: Expr) -> ExprType | None:
        """Check one argument; its type, or None for a window or constant literal."""
        where = f"argument {param.name!r} of {call.name}"
        if param.kind in ("window", "const"):
            if not isinstance(arg, Number):
                self.fail(f"{where} must be a number literal but got {arg.text!r}", arg)
            if param.kind == "window":
                self.window(call, param, arg, where)
            return None
        kind = self.infer(arg)
        if param.kind == "bool":
            if kind.value != "bool":
                self.fail(f"{where} must be a condition but got a {kind.describe()}", arg)
            return kind
        if kind.value != "num":
            self.fail(
                f"{where} must be numeric but got a {kind.describe()}",
                arg,
                "use where(cond, 1, 0) to turn a condition into a number",
            )
        if param.kind == "panel" and not kind.panel:
            self.fail(f"{where} must be a panel (depend on a field) but got a constant", arg)
        return kind

    def window(self, call: Call, param: Param, arg: Number, where: str) -> None:
        value = arg.value
        if not value.is_integer():
            self.fail(f"{where} must be an integer number of rows but got {arg.text}", arg)
        if value < param.minimum:
            what = "a lag" if param.minimum == 0 else "a window"
            self.fail(f"{where} is {what} and must be >= {param.minimum} but got {arg.text}", arg)
        if value > self.limits.max_window:
            raise ExpressionLimitError(
                f"{where} is {arg.text} rows, above max_window {self.limits.max_window} "
                "(generation.max_window)",
                expression=self.text,
                position=max(self.text.find(call.text), 0),
                token=arg.text,
                suggestion=f"use at most {self.limits.max_window}",
            )


def infer_type(expr: Expr, *, fields: frozenset[str], limits: Limits) -> ExprType:
    """The type of ``expr`` (any unit at its root), or an ``ExpressionTypeError``.

    Units must combine and cross-sectional operators inside ``expr`` must get
    scale-free inputs, as in :func:`typecheck`.
    """
    return _Checker(expr, fields, limits, units=True).infer(expr)


def typecheck(
    expr: Expr, *, fields: frozenset[str], limits: Limits, units: bool = True
) -> Expr:
    """Check that ``expr`` is a well-typed, scale-free numeric signal panel within ``limits``.

    Args:
        expr: a parsed expression.
        fields: the field names the data provides (``returns`` is derived from
            ``close``; see :func:`available_fields`).
        limits: size, depth and window bounds.
        units: enforce the unit rules (units combine; cross-sectional inputs
            and the signal are scale-free). Every new candidate is checked
            with them; ``False`` only for computing a stored expression's
            values, such as a champion recorded before the rules existed.

    Returns:
        The same expression, now known to be valid.

    Raises:
        ExpressionTypeError: wrong arity or argument kind, bad window, unknown field,
            or (with ``units``) a unit error.
        ExpressionLimitError: too many nodes, too deep, or a window above ``max_window``.
    """
    usable = available_fields(fields)
    if expr.size > limits.max_nodes:
        raise ExpressionLimitError(
            f"expression has {expr.size} nodes, above max_expression_nodes {limits.max_nodes}",
            expression=expr.text,
        )
    if expr.depth > limits.max_depth:
        raise ExpressionLimitError(
            f"expression has depth {expr.depth}, above max_expression_depth {limits.max_depth}",
            expression=expr.text,
        )
    checker = _Checker(expr, usable, limits, units=units)
    kind = checker.infer(expr)
    if kind.value != "num":
        checker.fail(
            "the signal is a condition, not a number", expr, "use where(cond, 1, 0) to rank by it"
        )
    if not kind.panel:
        checker.fail("the signal is a constant; it must depend on a field such as close", expr)
    checker.scale_free(expr, kind.unit, "the portfolio selection (top-N, quantiles, threshold)")
    return expr
