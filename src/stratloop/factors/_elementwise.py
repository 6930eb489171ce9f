"""Element-wise kernels, infix arithmetic, comparisons and boolean logic.

Values are float64 arrays or plain floats (constants). Booleans are encoded
as 1.0 / 0.0, and NaN where either input is NaN, so "undefined" survives a
comparison. Infinities (division by zero, ``log(0)``) become NaN.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeAlias

import numpy as np

from stratloop._types import FloatPanel

__all__ = [
    "Value",
    "abs_",
    "add",
    "and_",
    "clip",
    "comparison",
    "divide",
    "log",
    "maximum",
    "minimum",
    "multiply",
    "negate",
    "not_",
    "or_",
    "sign",
    "sqrt",
    "subtract",
    "where",
]

Value: TypeAlias = FloatPanel | float
"""What an expression evaluates to: a dates x assets panel or a constant."""


def _finite(values: Value) -> Value:
    """Infinities become NaN."""
    if isinstance(values, np.ndarray):
        values[~np.isfinite(values)] = np.nan
        return values
    result = float(values)
    return result if np.isfinite(result) else float("nan")


def _plain(values: FloatPanel | np.floating | float) -> Value:
    """0-d results of two constants become floats."""
    if isinstance(values, np.ndarray) and values.ndim > 0:
        return values.astype(np.float64, copy=False)
    return float(values)


def add(left: Value, right: Value, *, out: FloatPanel | None = None) -> Value:
    """``left + right``, written into ``out`` when given (an operand the caller no longer needs)."""
    return _plain(np.add(left, right, out=out))


def subtract(left: Value, right: Value, *, out: FloatPanel | None = None) -> Value:
    """``left - right``, written into ``out`` when given."""
    return _plain(np.subtract(left, right, out=out))


def multiply(left: Value, right: Value, *, out: FloatPanel | None = None) -> Value:
    """``left * right``, written into ``out`` when given."""
    with np.errstate(all="ignore"):
        return _finite(_plain(np.multiply(left, right, out=out)))


def divide(left: Value, right: Value, *, out: FloatPanel | None = None) -> Value:
    """``left / right``; NaN where ``right`` is 0. Written into ``out`` when given."""
    with np.errstate(all="ignore"):
        return _finite(_plain(np.divide(left, right, out=out)))


def negate(operand: Value) -> Value:
    """``-operand``."""
    return _plain(np.negative(operand))


def comparison(ufunc: np.ufunc) -> Callable[[Value, Value], Value]:
    """The comparison ``ufunc`` (``np.less``...) as 1.0 / 0.0, NaN where either side is NaN."""

    def compare(left: Value, right: Value) -> Value:
        undefined = np.isnan(left) | np.isnan(right)
        result = np.asarray(ufunc(left, right), dtype=np.float64)
        return _plain(np.where(undefined, np.nan, result))

    return compare


def and_(left: Value, right: Value) -> Value:
    """Both true (1.0); NaN if either is undefined."""
    return _plain(np.multiply(left, right))


def or_(left: Value, right: Value) -> Value:
    """Either true (1.0); NaN if either is undefined."""
    return _plain(np.maximum(left, right))


def not_(operand: Value) -> Value:
    """Logical negation; NaN stays NaN."""
    return _plain(np.subtract(1.0, operand))


def abs_(operand: Value) -> Value:
    """Absolute value."""
    return _plain(np.abs(operand))


def sign(operand: Value) -> Value:
    """-1, 0 or 1."""
    return _plain(np.sign(operand))


def log(operand: Value) -> Value:
    """Natural logarithm; NaN for values <= 0."""
    with np.errstate(all="ignore"):
        return _finite(_plain(np.log(np.where(np.greater(operand, 0.0), operand, np.nan))))


def sqrt(operand: Value) -> Value:
    """Square root; NaN for negative values."""
    with np.errstate(all="ignore"):
        return _plain(np.sqrt(np.where(np.greater_equal(operand, 0.0), operand, np.nan)))


def clip(operand: Value, lower: float, upper: float) -> Value:
    """``operand`` limited to ``[lower, upper]``."""
    return _plain(np.clip(operand, lower, upper))


def where(condition: Value, if_true: Value, if_false: Value) -> Value:
    """``if_true`` where the condition holds, else ``if_false``; NaN where it is undefined."""
    chosen = np.where(np.not_equal(condition, 0.0), if_true, if_false)
    return _plain(np.where(np.isnan(condition), np.nan, chosen))


def minimum(left: Value, right: Value) -> Value:
    """Element-wise minimum; NaN if either is NaN."""
    return _plain(np.minimum(left, right))


def maximum(left: Value, right: Value) -> Value:
    """Element-wise maximum; NaN if either is NaN."""
    return _plain(np.maximum(left, right))
