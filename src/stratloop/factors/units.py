"""Units of expressions: price, volume, their products and ratios, ranks, log levels.

Every expression has a unit, derived from its fields and the operator
table's ``unit`` column (one :data:`UnitRule` per operator). Cross-sectional
operators and the portfolio selection compare values across assets, so they
accept only scale-free units (dimensionless numbers and ranks): a
back-adjusted price level encodes the stock's future splits and dividends and
is not comparable across stocks.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from types import MappingProxyType
from typing import Literal, TypeAlias

__all__ = [
    "CONSTANT",
    "DIMENSIONLESS",
    "INFIX_RULES",
    "MIXED",
    "PRICE",
    "RANK",
    "RULE_SUMMARIES",
    "UNIT_RULES",
    "VOLUME",
    "InfixRule",
    "Unit",
    "UnitClashError",
    "UnitKind",
    "UnitRule",
]

UnitKind: TypeAlias = Literal["constant", "quantity", "rank", "log", "mixed"]
"""constant: a number literal, which takes the unit of what it meets;
quantity: price^a * volume^b (dimensionless when both are 0);
rank: a percentile rank in (0, 1]; log: the log of a dimensional quantity;
mixed: a level whose scale cannot be factored out (never scale-free)."""

UnitRule: TypeAlias = Literal[
    "same", "difference", "ratio", "dimensionless", "rank", "log", "sqrt", "common"
]
"""How an operator's output unit follows from its numeric arguments' units."""

InfixRule: TypeAlias = Literal["sum", "difference", "product", "quotient", "compare", "logic"]
"""How an infix operator's output unit follows from its operands' units."""


class UnitClashError(ValueError):
    """Operands whose units cannot be combined (adding a price to a volume)."""


@dataclass(frozen=True, slots=True)
class Unit:
    """The unit of an expression.

    Args:
        kind: see :data:`UnitKind`.
        price: the exponent of price (quantities and logs).
        volume: the exponent of volume (quantities and logs).
    """

    kind: UnitKind
    price: Fraction = Fraction(0)
    volume: Fraction = Fraction(0)

    @property
    def dimensional(self) -> bool:
        """True if price or volume appears with a non-zero exponent."""
        return bool(self.price or self.volume)

    @property
    def scale_free(self) -> bool:
        """True for units that may be compared across assets: dimensionless numbers, ranks."""
        return self.kind == "rank" or (self.kind == "quantity" and not self.dimensional)

    def describe(self) -> str:
        """``price``, ``dollar volume``, ``rank``, ``log price``, ``price^2`` ..."""
        if self.kind in ("constant", "rank"):
            return self.kind
        if self.kind == "mixed":
            return "mixed level"
        if self.price == self.volume == 1:
            text = "dollar volume"
        else:
            text = "*".join(
                name if power == 1 else f"{name}^{power}"
                for name, power in (("price", self.price), ("volume", self.volume))
                if power
            )
        if self.kind == "log":
            return f"log {text}"
        return text or "dimensionless"


CONSTANT = Unit("constant")
DIMENSIONLESS = Unit("quantity")
RANK = Unit("rank")
MIXED = Unit("mixed")
PRICE = Unit("quantity", Fraction(1))
VOLUME = Unit("quantity", Fraction(0), Fraction(1))


def _quantity(unit: Unit) -> Unit:
    """A rank counts as a dimensionless quantity in products and powers."""
    return DIMENSIONLESS if unit.kind == "rank" else unit


def _dims(kind: UnitKind, price: Fraction, volume: Fraction) -> Unit:
    if kind == "log" and not (price or volume):
        return DIMENSIONLESS
    return Unit(kind, price, volume)


def _join(left: Unit, right: Unit, what: str) -> Unit:
    """The common unit of values that are added, compared or chosen between."""
    if left.kind == "constant":
        return right
    if right.kind == "constant" or left == right:
        return left
    if left.scale_free and right.scale_free:
        return DIMENSIONLESS
    if "mixed" in (left.kind, right.kind):
        return MIXED
    for log, other in ((left, right), (right, left)):
        if log.kind == "log" and other.scale_free:
            return log
    raise UnitClashError(f"{what} a {left.describe()} and a {right.describe()}")


def _sum(left: Unit, right: Unit, sign: int) -> Unit:
    if left.kind == right.kind == "log":
        return _dims("log", left.price + sign * right.price, left.volume + sign * right.volume)
    joined = _join(left, right, "cannot add or subtract")
    if sign < 0 and left == right and left.kind == "rank":
        return DIMENSIONLESS
    return joined


def _product(left: Unit, right: Unit) -> Unit:
    if left.kind == "constant":
        return right
    if right.kind == "constant":
        return left
    if "mixed" in (left.kind, right.kind) or "log" in (left.kind, right.kind):
        return MIXED
    a, b = _quantity(left), _quantity(right)
    return _dims("quantity", a.price + b.price, a.volume + b.volume)


def _quotient(left: Unit, right: Unit) -> Unit:
    if right.kind == "constant":
        return left
    if right.kind in ("log", "mixed"):
        return MIXED
    divisor = _quantity(right)
    return _product(left, Unit("quantity", -divisor.price, -divisor.volume))


def _compare(left: Unit, right: Unit) -> Unit:
    _join(left, right, "cannot compare")
    return DIMENSIONLESS


def _difference(units: Sequence[Unit]) -> Unit:
    unit = units[0]
    if unit.kind in ("log", "rank"):
        return DIMENSIONLESS
    return unit


def _ratio(units: Sequence[Unit]) -> Unit:
    return MIXED if units[0].kind in ("log", "mixed") else DIMENSIONLESS


def _log(units: Sequence[Unit]) -> Unit:
    unit = _quantity(units[0])
    if unit.kind in ("constant", "log", "mixed"):
        return unit if unit.kind == "constant" else MIXED
    return _dims("log", unit.price, unit.volume)


def _sqrt(units: Sequence[Unit]) -> Unit:
    unit = _quantity(units[0])
    if unit.kind in ("constant", "log", "mixed"):
        return unit if unit.kind == "constant" else MIXED
    return Unit("quantity", unit.price / 2, unit.volume / 2)


def _common(units: Sequence[Unit]) -> Unit:
    result = units[0]
    for unit in units[1:]:
        result = _join(result, unit, "cannot choose between")
    return result


UNIT_RULES: Mapping[UnitRule, Callable[[Sequence[Unit]], Unit]] = MappingProxyType(
    {
        "same": lambda units: units[0],
        "difference": _difference,
        "ratio": _ratio,
        "dimensionless": lambda _units: DIMENSIONLESS,
        "rank": lambda _units: RANK,
        "log": _log,
        "sqrt": _sqrt,
        "common": _common,
    }
)
"""Each function rule's derivation from its numeric arguments' units (first = ``x``)."""

RULE_SUMMARIES: Mapping[UnitRule, str] = MappingProxyType(
    {
        "same": "x's",
        "difference": "x's (dimensionless for a log level or a rank)",
        "ratio": "dimensionless",
        "dimensionless": "dimensionless",
        "rank": "rank",
        "log": "log of x's (dimensionless for a scale-free x)",
        "sqrt": "x's to the power 1/2",
        "common": "the common unit of a and b",
    }
)
"""Each function rule in words, for the generated reference."""

INFIX_RULES: Mapping[InfixRule, Callable[[Unit, Unit], Unit]] = MappingProxyType(
    {
        "sum": lambda left, right: _sum(left, right, 1),
        "difference": lambda left, right: _sum(left, right, -1),
        "product": _product,
        "quotient": _quotient,
        "compare": _compare,
        "logic": lambda _left, _right: DIMENSIONLESS,
    }
)
"""Each infix rule's derivation from its operands' units."""
