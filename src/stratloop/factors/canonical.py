"""The canonical form of an expression and the trial key of a strategy.

Two candidates are the same trial when they compute the same signal and trade
it the same way, however the expression was spelt. :func:`canonical` rewrites
an expression into one normal form; :func:`trial_key` hashes that form with
the portfolio rule and the exits. The rewrites keep the signal's values (up to
floating-point rounding of reordered sums and products) and never its lookback:

- redundant parentheses and number spellings (``20.0``, ``2e1``) are already
  gone after parsing: the tree has none;
- sums and differences become one sorted list of signed terms, products and
  quotients one sorted list of factors over one sorted list of divisors, so
  operand order and grouping do not matter (``a - b + c`` = ``c + a - b``);
  a negation inside them is a sign (``-a * b`` = ``-(a * b)``, ``--x`` = ``x``),
  and so is the orientation of a sum inside a product (``x * (b - a)`` =
  ``-(x * (a - b))``; a sum that is its own negation, ``a - a``, leaves its
  product unsigned);
- a divisor that is itself a quotient stays one divisor unless it divides by
  a nonzero constant (``x / (y / 2)`` = ``2 * x / y``, but ``x / (y / z)`` is
  not ``x * z / y``: where ``z`` is 0 the first is NaN, the second a number);
- constants fold where the result is exact (``x * 2 * 3`` = ``6 * x``;
  ``x + 0``, ``x * 1`` and ``x / 1`` lose the constant); an inexact fold
  (``0.1 * 0.3``) keeps both;
- ``==``, ``!=``, ``and``, ``or``, ``min`` and ``max`` sort their operands;
  ``a > b`` becomes ``b < a`` and ``a >= b`` becomes ``b <= a``;
  ``not not c`` is ``c`` and ``where(not c, a, b)`` is ``where(c, b, a)``;
- a library factor ``factor("name")`` is its expression, so the key of an
  expression that uses it is the key of the inlined expression;
- identities of the operator table: ``delay(x, 0)``; ``ts_mean``, ``ts_sum``,
  ``ts_min``, ``ts_max``, ``decay_linear`` and ``ema`` over one row are ``x``;
  ``rank(rank(x))`` is ``rank(x)``; ``abs``, ``sign``, ``min``, ``max`` and
  ``clip`` of constants are the constant.

The canonical form is an expression in its own right (it evaluates to the
same signal), which is how the tests check every rule.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from fractions import Fraction
from functools import reduce

from stratloop.factors.grammar import parse
from stratloop.factors.limits import EVALUATION_LIMITS
from stratloop.factors.nodes import Binary, Call, Expr, Neg, Not, Number, Ref
from stratloop.spec import Strategy

__all__ = ["canonical", "canonical_text", "trial_key"]

_ONE_ROW_IDENTITY = frozenset({"ts_mean", "ts_sum", "ts_min", "ts_max", "decay_linear", "ema"})
"""Window operators that return their input unchanged over a one-row window."""

_SORTED_CALLS = frozenset({"min", "max"})
_SORTED_INFIX = frozenset({"==", "!=", "and", "or"})
_FLIPPED = {">": "<", ">=": "<="}

_Signed = tuple[int, Expr]
"""A term of a sum with its sign (+1 or -1)."""


def canonical(expr: Expr) -> Expr:  # noqa: C901, PLR0911 - one return per rewrite rule
    """The normal form of ``expr`` (see the module docstring for the rules).

    >>> str(canonical(parse("(returns * 2) - -ts_mean(close, 1) / 1")))
    '2 * returns + close'
    """
    match expr:
        case Ref():
            return canonical(expr.body)
        case Binary(op="+" | "-") | Neg():
            return _sum(_signed_terms(expr, 1))
        case Binary(op="*" | "/"):
            return _product(expr)
        case Binary(op=op) if op in _FLIPPED:
            return Binary(_FLIPPED[op], canonical(expr.right), canonical(expr.left))
        case Binary(op=op) if op in ("and", "or"):
            return _chain(op, sorted(_flatten(expr, op), key=_order))
        case Binary(op=op) if op in _SORTED_INFIX:
            left, right = sorted((canonical(expr.left), canonical(expr.right)), key=_order)
            return Binary(op, left, right)
        case Binary():
            return Binary(expr.op, canonical(expr.left), canonical(expr.right))
        case Not(operand=Not(operand=inner)):
            return canonical(inner)
        case Not():
            return Not(canonical(expr.operand))
        case Call():
            return _call(expr.name, tuple(canonical(arg) for arg in expr.args))
        case _:
            return expr


def canonical_text(expression: str) -> str:
    """The canonical text of an expression's text (parsed with the widest limits).

    Raises:
        ExpressionSyntaxError: the text does not parse.
        ExpressionLimitError: it exceeds even the evaluation limits.
    """
    return canonical(parse(expression, limits=EVALUATION_LIMITS)).text


def trial_key(strategy: Strategy) -> str:
    """sha256 of the canonical expression, the portfolio rule and the exits.

    Two strategies with the same key are the same trial: the same signal,
    traded by the same rule. Unlike ``Strategy.strategy_id`` (the spec as
    written), it does not depend on how the expression is spelt.

    Raises:
        ExpressionSyntaxError: the expression does not parse (an invalid
            candidate has no trial key; it is never evaluated).
    """
    payload = {
        "expression": canonical_text(strategy.expression),
        "portfolio": strategy.portfolio.model_dump(mode="json"),
        "exits": strategy.exits.model_dump(mode="json"),
    }
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _order(expr: Expr) -> tuple[int, str]:
    """Sort key of operands: constants first, then by canonical text."""
    return (0 if isinstance(expr, Number) else 1, expr.text)


def _flatten(expr: Expr, op: str) -> list[Expr]:
    """Canonical operands of a chain of one associative operator."""
    if isinstance(expr, Binary) and expr.op == op:
        return [*_flatten(expr.left, op), *_flatten(expr.right, op)]
    done = canonical(expr)
    if isinstance(done, Binary) and done.op == op:
        return [*_flatten(done.left, op), *_flatten(done.right, op)]
    return [done]


def _chain(op: str, operands: Iterable[Expr]) -> Expr:
    return reduce(lambda left, right: Binary(op, left, right), operands)


def _signed_terms(expr: Expr, sign: int) -> list[_Signed]:  # noqa: PLR0911 - one per node kind
    """The signed, canonical terms of a sum, difference or negation."""
    match expr:
        case Binary(op="+"):
            return [*_signed_terms(expr.left, sign), *_signed_terms(expr.right, sign)]
        case Binary(op="-"):
            return [*_signed_terms(expr.left, sign), *_signed_terms(expr.right, -sign)]
        case Neg():
            return _signed_terms(expr.operand, -sign)
        case Number():
            return [(sign, expr)]
    done = canonical(expr)
    if isinstance(done, Binary | Neg) and (isinstance(done, Neg) or done.op in "+-"):
        return _signed_terms(done, sign)
    if isinstance(done, Number) and done.value < 0:
        return [(-sign, Number(-done.value))]
    return [(sign, done)]


def _exact(values: list[float], combine: Callable[[Fraction, Fraction], Fraction]) -> list[float]:
    """Fold constants while the float result is exact; an inexact step keeps its operand apart."""
    folded: list[float] = []
    for value in values:
        if folded:
            exact = combine(Fraction(folded[-1]), Fraction(value))
            as_float = float(exact)
            if Fraction(as_float) == exact:
                folded[-1] = as_float
                continue
        folded.append(value)
    return folded


def _sum(terms: list[_Signed]) -> Expr:
    constants = _exact(
        sorted(sign * term.value for sign, term in terms if isinstance(term, Number)),
        lambda a, b: a + b,
    )
    others = sorted(
        (_unsigned(sign, term) for sign, term in terms if not isinstance(term, Number)),
        key=lambda item: (item[1].text, -item[0]),
    )
    signed = [*((1, Number(v)) for v in constants if v != 0), *others]
    if not signed:
        return Number(0.0)
    positive = [item for item in signed if item[0] > 0]
    first = positive[0] if positive else signed[0]
    rest = signed.copy()
    rest.remove(first)
    start = first[1] if first[0] > 0 else _negate(first[1])
    return reduce(
        lambda left, item: Binary("+" if item[0] > 0 else "-", left, item[1]), rest, start
    )


def _leading(expr: Expr) -> Number | None:
    """The constant a canonical product starts with, if any."""
    while isinstance(expr, Binary) and expr.op in ("*", "/"):
        expr = expr.left
    return expr if isinstance(expr, Number) else None


def _with_leading(expr: Expr, value: float) -> Expr:
    """A canonical product with its leading constant replaced by ``value``."""
    if isinstance(expr, Binary) and expr.op in ("*", "/"):
        return Binary(expr.op, _with_leading(expr.left, value), expr.right)
    return Number(value)


def _unsigned(sign: int, term: Expr) -> _Signed:
    """A term of a sum whose product keeps its sign outside: ``x - 2 * y``, not ``x + -2 * y``."""
    constant = _leading(term)
    if constant is not None and constant.value < 0:
        return -sign, _with_leading(term, -constant.value)
    return sign, term


def _negate(expr: Expr) -> Expr:
    """Negation in canonical form: a constant or a product's leading constant takes the sign."""
    if isinstance(expr, Number):
        return Number(-expr.value)
    constant = _leading(expr)
    if constant is not None:
        return _with_leading(expr, -constant.value)
    return Neg(expr)


@dataclass(slots=True)
class _Product:
    """The factors of a product: sign, constants and expressions above and below the line."""

    sign: int = 1
    scale: list[float] = field(default_factory=list)
    numerators: list[Expr] = field(default_factory=list)
    divisor_scale: list[float] = field(default_factory=list)
    divisors: list[Expr] = field(default_factory=list)
    signless: bool = False

    def add(self, expr: Expr, above: bool) -> None:
        """Collect the canonical factors of ``expr``, multiplied (``above``) or divided."""
        match expr:
            case Binary(op="*"):
                self.add(expr.left, above)
                self.add(expr.right, above)
                return
            case Binary(op="/") if above:
                self.add(expr.left, above)
                self.add(expr.right, not above)
                return
            case Binary(op="/"):
                self._divide_by_quotient(expr)
                return
            case Neg():
                self.sign = -self.sign
                self.add(expr.operand, above)
                return
            case Number():
                if expr.value < 0:
                    self.sign = -self.sign
                (self.scale if above else self.divisor_scale).append(abs(expr.value))
                return
        done = canonical(expr)
        if isinstance(done, Neg | Number) or (isinstance(done, Binary) and done.op in "*/"):
            self.add(done, above)
            return
        if isinstance(done, Binary) and done.op in "+-":
            done = self._oriented(done)
        (self.numerators if above else self.divisors).append(done)

    def _divide_by_quotient(self, quotient: Binary) -> None:
        """Divide by ``y / z``: a nonzero constant ``z`` moves up, else ``y / z`` stays one divisor.

        ``x / (y / z)`` is ``x * z / y`` only where ``z`` is not 0: there the
        first is NaN (``y / 0`` is NaN) and the second a number. The divisor's
        sign and nonzero leading constant still come out (exact or rounding only).
        """
        divisor = canonical(quotient.right)
        if isinstance(divisor, Number) and divisor.value != 0:
            self.add(quotient.left, above=False)
            self.add(divisor, above=True)
            return
        unit = canonical(quotient)
        if isinstance(unit, Neg):
            self.sign, unit = -self.sign, unit.operand
        constant = _leading(unit)
        if constant is not None and constant.value != 0:
            self.add(constant, above=False)
            unit = canonical(_with_leading(unit, 1.0))
        self.divisors.append(unit)

    def _oriented(self, total: Binary) -> Expr:
        """One of ``S`` and ``-S`` for a sum factor ``S``, its sign moved to the product's.

        ``x * (b - a)`` and ``-(x * (a - b))`` are one value: the factor is
        whichever of the two canonical sums does not start with a minus, the
        shorter text if neither does, and the product takes the sign. A sum
        that is its own negation (``a - a``) is 0 wherever it is defined, so
        its product has no sign (``-0.0`` and ``0.0`` compare, rank and sort
        alike).
        """
        negated = _sum(_signed_terms(total, -1))
        if negated == total:
            self.signless = True
        elif _orientation(negated) < _orientation(total):
            self.sign = -self.sign
            return negated
        return total

    def build(self) -> Expr:
        """The product in canonical order: constant, factors, then each divisor."""
        scale = [v for v in _exact(sorted(self.scale), _times) if v != 1]
        below = [v for v in _exact(sorted(self.divisor_scale), _times) if v != 1]
        sign = 1 if self.signless else self.sign
        if sign < 0 and scale:
            scale[0], sign = -scale[0], 1
        top = [*map(Number, scale), *sorted(self.numerators, key=_order)]
        result = _chain("*", top) if top else Number(1.0)
        for divisor in [*map(Number, below), *sorted(self.divisors, key=_order)]:
            result = Binary("/", result, divisor)
        if sign > 0:
            return result
        if isinstance(result, Binary) and result.op in "+-":
            return _sum(_signed_terms(result, -1))
        return _negate(result)


def _orientation(total: Expr) -> tuple[bool, str]:
    """Sort key of a sum's two signs: the one not starting with a minus first, then by text."""
    return total.text.startswith("-"), total.text


def _product(expr: Expr) -> Expr:
    product = _Product()
    product.add(expr, above=True)
    return product.build()


def _times(a: Fraction, b: Fraction) -> Fraction:
    return a * b


def _call(name: str, args: tuple[Expr, ...]) -> Expr:
    """A call with canonical arguments, after the operator table's identities."""
    window = args[1] if len(args) == 2 and isinstance(args[1], Number) else None
    if window is not None and (
        (name == "delay" and window.value == 0) or (name in _ONE_ROW_IDENTITY and window.value == 1)
    ):
        return args[0]
    if name == "rank" and len(args) == 1 and isinstance(args[0], Call) and args[0].name == "rank":
        return args[0]
    if name == "where" and len(args) == 3 and isinstance(args[0], Not):
        return Call(name, (args[0].operand, args[2], args[1]))
    if all(isinstance(arg, Number) for arg in args):
        folded = _fold_constants(name, [arg.value for arg in args if isinstance(arg, Number)])
        if folded is not None:
            return Number(folded)
    if name in _SORTED_CALLS:
        return Call(name, tuple(sorted(args, key=_order)))
    return Call(name, args)


def _fold_constants(name: str, values: list[float]) -> float | None:
    """The exact value of an element-wise call on constants; None when it does not fold."""
    match name, values:
        case "abs", [x]:
            return abs(x)
        case "sign", [x]:
            return float((x > 0) - (x < 0))
        case "min", [x, y]:
            return min(x, y)
        case "max", [x, y]:
            return max(x, y)
        case "clip", [x, lower, upper] if lower <= upper:
            return min(max(x, lower), upper)
    return None

