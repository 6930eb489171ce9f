"""Types of expressions: numeric or boolean, panel or constant.

Checks arity, argument kinds, integer windows within ``[minimum,
max_window]`` (so lags are never negative), that fields exist in the panel,
and that the whole expression is a numeric panel: a signal.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NoReturn

from stratloop.errors import ExpressionLimitError, ExpressionTypeError
from stratloop.factors._suggest import did_you_mean
from stratloop.factors.limits import Limits
from stratloop.factors.nodes import Binary, Call, Expr, Field, Neg, Not, Number
from stratloop.factors.ops import INFIX, OPERATORS, Param

__all__ = ["ExprType", "available_fields", "infer_type", "typecheck"]


@dataclass(frozen=True, slots=True)
class ExprType:
    """What an expression evaluates to.

    Args:
        value: ``num`` for numbers, ``bool`` for conditions (1.0 / 0.0 / NaN).
        panel: True for a dates x assets panel, False for a constant.
    """

    value: Literal["num", "bool"]
    panel: bool

    def describe(self) -> str:
        """``numeric panel``, ``constant condition``, ..."""
        value = "numeric" if self.value == "num" else "condition"
        return f"{value} {'panel' if self.panel else 'constant'}"


def available_fields(stored: frozenset[str] | set[str]) -> frozenset[str]:
    """Fields an expression may use on a panel with these stored fields (adds ``returns``)."""
    return frozenset(stored) | ({"returns"} if "close" in stored else set())


class _Checker:
    def __init__(self, root: Expr, fields: frozenset[str], limits: Limits) -> None:
        self.text = root.text
        self.fields = fields
        self.limits = limits

    def fail(self, message: str, node: Expr, suggestion: str | None = None) -> NoReturn:
        position = self.text.find(node.text)
        raise ExpressionTypeError(
            message,
            expression=self.text,
            position=position if position >= 0 else None,
            token=node.text,
            suggestion=suggestion,
        )

    def infer(self, node: Expr) -> ExprType:
        match node:
            case Number():
                return ExprType("num", panel=False)
            case Field():
                return self.field(node)
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
        return ExprType("num", panel=True)

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
        return ExprType(infix.result, panel=left.panel or right.panel)

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
        for param, arg in zip(operator.params, node.args, strict=True):
            panel = self.argument(node, param, arg) or panel
        if node.name == "clip":
            lower, upper = node.args[1], node.args[2]
            reversed_bounds = isinstance(lower, Number) and isinstance(upper, Number)
            if reversed_bounds and lower.value > upper.value:  # type: ignore[union-attr]
                self.fail(f"clip bounds are reversed: {lower.text} > {upper.text}", node)
        return ExprType("num", panel=panel)

    def argument(self, call: Call, param: Param, arg: Expr) -> bool:
        """Check one argument; True if it is a panel."""
        where = f"argument {param.name!r} of {call.name}"
        if param.kind in ("window", "const"):
            if not isinstance(arg, Number):
                self.fail(f"{where} must be a number literal but got {arg.text!r}", arg)
            if param.kind == "window":
                self.window(call, param, arg, where)
            return False
        kind = self.infer(arg)
        if param.kind == "bool":
            if kind.value != "bool":
                self.fail(f"{where} must be a condition but got a {kind.describe()}", arg)
            return kind.panel
        if kind.value != "num":
            self.fail(
                f"{where} must be numeric but got a {kind.describe()}",
                arg,
                "use where(cond, 1, 0) to turn a condition into a number",
            )
        if param.kind == "panel" and not kind.panel:
            self.fail(f"{where} must be a panel (depend on a field) but got a constant", arg)
        return kind.panel

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
    """The type of ``expr``, or an ``ExpressionTypeError`` explaining why it has none."""
    return _Checker(expr, fields, limits).infer(expr)


def typecheck(expr: Expr, *, fields: frozenset[str], limits: Limits) -> Expr:
    """Check that ``expr`` is a well-typed numeric signal panel within ``limits``.

    Args:
        expr: a parsed expression.
        fields: the field names the data provides (``returns`` is derived from
            ``close``; see :func:`available_fields`).
        limits: size, depth and window bounds.

    Returns:
        The same expression, now known to be valid.

    Raises:
        ExpressionTypeError: wrong arity or argument kind, bad window, unknown field.
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
    checker = _Checker(expr, usable, limits)
    kind = checker.infer(expr)
    if kind.value != "num":
        checker.fail(
            "the signal is a condition, not a number", expr, "use where(cond, 1, 0) to rank by it"
        )
    if not kind.panel:
        checker.fail("the signal is a constant; it must depend on a field such as close", expr)
    return expr
