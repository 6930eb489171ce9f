"""A GBNF grammar of the strategy reply, generated from the DSL's operator table and units.

llama.cpp's server samples only strings its ``grammar`` field accepts. The
grammar built here accepts one JSON strategy object whose ``expression`` is,
by construction, a parseable, type-correct, scale-free signal within the
configured depth and window limits: every nonterminal stands for one type
class at one depth bound, and every production is one the type checker
(:mod:`stratloop.factors.typecheck`) and the unit rules accept for that class.

The type classes are ``s`` (a scale-free numeric panel: a return, a ratio, a
rank), ``p`` (a price-level panel), ``v`` (a volume-level panel) and ``b`` (a
condition panel). Production ``x<k>`` derives expressions of that class whose
node depth is at most ``k``. Operators chain as the parser reads them
(``a - b + c``, ``a - b * c``, ``close / delay(close, 5) - 1``); any other
nesting is parenthesised. The grammar is a sound subset of the DSL, not all
of it: it cannot count nodes, so the node limit stays the parser's, and the
repair round answers the rare reply over it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from stratloop.factors import FIELD_UNITS, Limits, Unit, available_fields
from stratloop.factors.ops import OPERATORS
from stratloop.factors.units import PRICE, VOLUME

__all__ = ["GrammarShape", "grammar_depth", "int_range", "strategy_grammar"]

_SAME_TS = ("delay", "ts_mean", "ts_sum", "ts_min", "ts_max", "ema", "decay_linear")
"""Time-series operators whose output has their input's unit."""
_DIFF_TS = ("ts_std", "delta")
"""Time-series operators whose output is a difference: a level's unit, else dimensionless."""
_CROSS = ("rank", "zscore", "demean", "scale")
_SCALE_FREE_UNARY = ("log", "sqrt")
_COMPARE = ("<", "<=", ">", ">=")
_SPARE_NESTING = 8
"""The parser allows this much parenthesis nesting beyond the depth limit."""
_NUMBER = 'num ::= [0-9] [0-9]? [0-9]? ("." [0-9] [0-9]? [0-9]?)?'
_LEVEL_UNITS: Mapping[str, Unit] = {"p": PRICE, "v": VOLUME}


@dataclass(frozen=True, slots=True)
class GrammarShape:
    """What the grammar lets the model write besides the expression.

    Args:
        max_n: largest ``top_n`` count.
        rationale_chars: longest rationale; 0 leaves the key out.
    """

    max_n: int = 1000
    rationale_chars: int = 300


def grammar_depth(limits: Limits) -> int:
    """The deepest expression the grammar derives.

    At most ``limits.max_depth``, and shallow enough that the parser's
    nesting bound (two levels per node at worst, when a binary is the right
    operand of a binary) is never reached.
    """
    return max(1, min(limits.max_depth, (limits.max_depth + _SPARE_NESTING + 1) // 2))


def int_range(low: int, high: int) -> str:
    """A GBNF alternation matching exactly the decimal integers ``low..high`` (no leading 0).

    >>> int_range(1, 12)
    '[1-9] | "1" [0-2]'
    """
    if low > high or low < 0:
        message = f"int_range needs 0 <= low <= high but got {low}..{high}"
        raise ValueError(message)
    parts: list[str] = []
    for digits in range(len(str(low)), len(str(high)) + 1):
        first = max(low, 10 ** (digits - 1) if digits > 1 else 0)
        last = min(high, 10**digits - 1)
        if first <= last:
            parts.extend(_same_length(str(first), str(last)))
    return " | ".join(parts)


def _same_length(low: str, high: str) -> list[str]:
    """Alternatives for the integers ``low..high`` of one digit count."""
    if len(low) == 1:
        return [_digit(low, high)]
    if low[0] == high[0]:
        inner = _same_length(low[1:], high[1:])
        tail = inner[0] if len(inner) == 1 else "(" + " | ".join(inner) + ")"
        return [f'"{low[0]}" {tail}']
    rest = len(low) - 1
    parts: list[str] = []
    start, end = int(low[0]), int(high[0])
    if low[1:] != "0" * rest:
        parts.extend(_same_length(low, low[0] + "9" * rest))
        start += 1
    tail_full = high[1:] == "9" * rest
    stop = end if tail_full else end - 1
    if start <= stop:
        parts.append(_digit(str(start), str(stop)) + " [0-9]" * rest)
    if not tail_full:
        parts.extend(_same_length(high[0] + "0" * rest, high))
    return parts


def _digit(low: str, high: str) -> str:
    return f'"{low}"' if low == high else f"[{low}-{high}]"


class _Builder:
    """Collects the type-class productions level by level."""

    def __init__(self, fields: frozenset[str], limits: Limits) -> None:
        self.limits = limits
        self.depth = grammar_depth(limits)
        leaves: dict[str, list[str]] = {"s": [], "p": [], "v": [], "b": []}
        for name in sorted(available_fields(fields)):
            unit = FIELD_UNITS[name]
            if unit.scale_free:
                leaves["s"].append(f'"{name}"')
            for cls, level_unit in _LEVEL_UNITS.items():
                if unit == level_unit:
                    leaves[cls].append(f'"{name}"')
        self.leaves = leaves
        self.rules: dict[str, list[str]] = {}
        self.windows: dict[int, str] = {}

    def has(self, name: str) -> bool:
        return bool(self.rules.get(name))

    def window(self, minimum: int) -> str:
        name = f"w{minimum}"
        self.windows[minimum] = int_range(minimum, self.limits.max_window)
        return name

    def build(self) -> str:
        for level in range(1, self.depth + 1):
            self.level(level)
        lines = [f"{name} ::= {' | '.join(alts)}" for name, alts in self.rules.items() if alts]
        lines += [f"w{m} ::= {alts}" for m, alts in sorted(self.windows.items())]
        return "\n".join(lines)

    def level(self, k: int) -> None:
        """Every form of each class with depth <= k.

        ``<c>a<k>``: fields and calls; ``<c>add<k>``, ``<c>mul<k>``, ``<c>neg<k>``:
        sums, products and negations; ``<c>b<k>``: all of those binaries;
        ``<c><k>``: everything. ``bb<k>`` holds the conditions.
        """
        for cls in ("s", "p", "v"):
            atoms = list(self.leaves[cls])
            if k > 1:
                atoms += self.calls(cls, k - 1)
            self.rules[f"{cls}a{k}"] = atoms
        for cls in ("s", "p", "v"):
            forms = self.arithmetic(cls, k - 1) if k > 1 else {}
            for form in ("add", "mul", "neg"):
                self.rules[f"{cls}{form}{k}"] = forms.get(form, [])
            self.rules[f"{cls}b{k}"] = [
                f"{cls}{form}{k}" for form in ("add", "mul", "neg") if self.has(f"{cls}{form}{k}")
            ]
        self.rules[f"bb{k}"] = self.conditions(k - 1) if k > 1 else []
        for cls in ("s", "p", "v", "b"):
            alts = [f"{cls}{form}{k}" for form in ("a", "b") if self.has(f"{cls}{form}{k}")]
            self.rules[f"{cls}{k}"] = alts

    def any_of(self, classes: Iterable[str], j: int) -> list[str]:
        return [f"{cls}{j}" for cls in classes if self.has(f"{cls}{j}")]

    def operand(self, cls: str, j: int, role: str) -> str | None:
        """An operand of class ``cls`` and depth <= j in ``role``, or None if there is none.

        Unparenthesised operands are exactly those the parser's precedence
        reads the same way: a sum may continue a sum or product on its left
        (left-associative) and take a product on its right; a product takes
        products and negations on its left; a comparison takes any sum on
        either side. Anything else is parenthesised.
        """
        names = {
            "left_add": [f"{cls}{j}"],
            "right_add": [f"{cls}a{j}", f"{cls}mul{j}"],
            "left_mul": [f"{cls}a{j}", f"{cls}mul{j}", f"{cls}neg{j}"],
            "right_mul": [f"{cls}a{j}"],
            "compare": [f"{cls}{j}"],
        }[role]
        alts = [name for name in names if self.has(name)]
        if self.has(f"{cls}b{j}"):
            alts.append(f'"(" {cls}b{j} ")"')
        if not alts:
            return None
        return alts[0] if len(alts) == 1 else "(" + " | ".join(alts) + ")"

    def calls(self, cls: str, j: int) -> list[str]:  # noqa: C901 - one branch per operator family
        """Calls producing class ``cls`` from arguments of depth <= j."""
        out: list[str] = []

        def call(name: str, *args: str) -> None:
            if name in OPERATORS:
                out.append(f'"{name}(" ' + ' ", " '.join(args) + ' ")"')

        def window_of(name: str) -> str:
            param = OPERATORS[name].window_param
            return self.window(param.minimum if param is not None else 1)

        same = f"{cls}{j}" if self.has(f"{cls}{j}") else None
        if same is not None:
            for name in (*_SAME_TS, *_DIFF_TS):
                if name in OPERATORS:
                    call(name, same, window_of(name))
            call("abs", same)
            call("min", same, same)
            call("max", same, same)
            call("min", same, "num")
            call("max", same, "num")
            if self.has(f"b{j}"):
                call("where", f"b{j}", same, same)
        if cls != "s":
            return out
        panels = self.any_of(("s", "p", "v"), j)
        for arg in panels:
            call("pct_change", arg, window_of("pct_change"))
            call("ts_rank", arg, window_of("ts_rank"))
            call("ts_zscore", arg, window_of("ts_zscore"))
            call("sign", arg)
            for other in panels:
                call("ts_corr", arg, other, window_of("ts_corr"))
        if same is not None:
            for name in (*_CROSS, *_SCALE_FREE_UNARY):
                call(name, same)
            call("clip", same, '"-" num', "num")
        if self.has(f"b{j}"):
            call("where", f"b{j}", "num", "num")
        return out

    def arithmetic(self, cls: str, j: int) -> dict[str, list[str]]:
        """Sums, products and negations of class ``cls`` from operands of depth <= j."""
        left_add = self.operand(cls, j, "left_add")
        right_add = self.operand(cls, j, "right_add")
        if left_add is None or right_add is None:
            return {}
        left_mul = self.operand(cls, j, "left_mul")
        right_mul = self.operand(cls, j, "right_mul")
        add = [f'{left_add} " {op} " {right_add}' for op in ("+", "-")]
        mul: list[str] = []
        if cls == "s":
            add += [f'{left_add} " {op} " num' for op in ("+", "-")]
            add += [f'num " {op} " {right_add}' for op in ("+", "-")]
            mul += [f'{left_mul} " {op} " {right_mul}' for op in ("*", "/")]
            mul += [f'{left_mul} " {op} " num' for op in ("*", "/")]
            mul += [f'num " {op} " {right_mul}' for op in ("*", "/")]
            for level_cls in _LEVEL_UNITS:
                left = self.operand(level_cls, j, "left_mul")
                right = self.operand(level_cls, j, "right_mul")
                if left is not None and right is not None:
                    mul.append(f'{left} " / " {right}')
        neg = []
        if self.has(f"{cls}a{j}"):
            neg.append(f'"-" {cls}a{j}')
        if self.has(f"{cls}b{j}"):
            neg.append(f'"-(" {cls}b{j} ")"')
        return {"add": add, "mul": mul, "neg": neg}

    def conditions(self, j: int) -> list[str]:
        """Comparisons of same-class operands, ``not`` and ``and`` / ``or`` of depth <= j."""
        out: list[str] = []
        for operand_cls in ("s", "p", "v"):
            side = self.operand(operand_cls, j, "compare")
            if side is None:
                continue
            out += [f'{side} " {op} " {side}' for op in _COMPARE]
            if operand_cls == "s":
                out += [f'{side} " {op} " num' for op in _COMPARE]
        if self.has(f"b{j}"):
            out.append(f'"not (" b{j} ")"')
            out += [f'"(" b{j} ") {op} (" b{j} ")"' for op in ("and", "or")]
        return out


def strategy_grammar(
    fields: frozenset[str], limits: Limits, shape: GrammarShape | None = None
) -> str:
    """The GBNF grammar of one JSON strategy reply on data with these ``fields``.

    Args:
        fields: the data's stored fields (``returns`` is derived from ``close``).
        limits: the expression limits; the grammar keeps to their depth and windows.
        shape: bounds on the non-expression parts of the reply.

    Raises:
        ValueError: the fields give no scale-free signal at all (no ``close``
            and no other field), so no expression could be sampled.
    """
    shape = shape or GrammarShape()
    builder = _Builder(frozenset(fields), limits)
    body = builder.build()
    top = f"s{builder.depth}"
    if not builder.has(top):
        message = (
            f"no scale-free signal can be written from the fields {sorted(fields)}; "
            "the data needs close (for returns) or another field"
        )
        raise ValueError(message)
    rationale = (
        f'(", \\"rationale\\": \\"" [^"\\\\\\x00-\\x1f]{{0,{shape.rationale_chars}}} "\\"")?'
        if shape.rationale_chars
        else ""
    )
    head = [
        'root ::= "{\\"expression\\": \\"" ' + top + ' "\\", \\"portfolio\\": " portfolio '
        + "exits? " + rationale + ' "}"',
        'portfolio ::= "{\\"kind\\": \\"top_n\\", \\"n\\": " topn ", " rebalance "}"'
        ' | "{\\"kind\\": \\"long_short\\", \\"quantile\\": " quantile ", " rebalance "}"',
        'rebalance ::= "\\"rebalance_days\\": " (' + int_range(1, 252) + ")",
        "topn ::= " + int_range(1, max(1, min(1000, shape.max_n))),
        'quantile ::= "0.5" | "0." [1-4] [0-9]? [0-9]? | "0.0" [1-9] [0-9]?',
        'exits ::= ", \\"exits\\": {\\"stop_loss\\": " ("null" | stoploss) '
        '", \\"max_holding_days\\": " ("null" | holding) "}"',
        'stoploss ::= "0." [1-9] [0-9]? | "0.0" [1-9] [0-9]?',
        "holding ::= " + int_range(1, 2520),
        _NUMBER,
    ]
    return "\n".join([*head, body]) + "\n"
