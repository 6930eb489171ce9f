"""A GBNF grammar of the strategy reply, generated from the DSL's operator table and units.

llama.cpp's server samples only strings its ``grammar`` field accepts. The
grammar built here accepts one JSON strategy object whose ``expression`` is,
by construction, parseable and type-correct: a scale-free signal whose
windows are within the configured limit, every production being one the type
checker (:mod:`stratloop.factors.typecheck`) and the unit rules accept.

The type classes are ``s`` (a scale-free numeric panel: a return, a ratio, a
rank), ``p`` (a price-level panel) and ``v`` (a volume-level panel), each as
a sum (``<c>e``) of terms of unary (``<c>u``) atoms (``<c>a``: fields, calls,
parenthesised sums), the precedence levels of the parser, and ``be`` for
conditions. Operators chain as the parser reads them (``a - b + c``,
``close / delay(close, 5) - 1``). The rules are written so that a prefix has
few readings: llama.cpp tracks every reading of the text so far, and a
grammar stratified by depth made that number explode. The grammar is a
sound subset of the DSL; it counts neither nodes nor depth, so those limits
stay the parser's, and the repair round answers the rare reply over them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from stratloop.factors import FIELD_UNITS, Limits, Unit, available_fields
from stratloop.factors.ops import OPERATORS
from stratloop.factors.units import PRICE, VOLUME

__all__ = ["GrammarShape", "int_range", "strategy_grammar"]

_SAME_TS = ("delay", "ts_mean", "ts_sum", "ts_min", "ts_max", "ema", "decay_linear")
"""Time-series operators whose output has their input's unit."""
_DIFF_TS = ("ts_std", "delta")
"""Time-series operators whose output is a difference: a level's unit, else dimensionless."""
_CROSS = ("rank", "zscore", "demean", "scale")
_SCALE_FREE_UNARY = ("log", "sqrt")
_COMPARE = ("<", "<=", ">", ">=")
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
    """Collects the productions of each type class."""

    def __init__(self, fields: frozenset[str], limits: Limits, saved: tuple[str, ...]) -> None:
        self.limits = limits
        library = [f'"factor(\'{name}\')"' for name in saved]
        leaves: dict[str, list[str]] = {"s": library, "p": [], "v": []}
        for name in sorted(available_fields(fields)):
            unit = FIELD_UNITS[name]
            if unit.scale_free:
                leaves["s"].append(f'"{name}"')
            for cls, level_unit in _LEVEL_UNITS.items():
                if unit == level_unit:
                    leaves[cls].append(f'"{name}"')
        self.leaves = leaves
        self.levels = [cls for cls in _LEVEL_UNITS if leaves[cls]]
        self.classes = ["s", *self.levels] if leaves["s"] or self.levels else []
        self.windows: dict[int, str] = {}

    def window(self, name: str) -> str:
        param = OPERATORS[name].window_param
        minimum = param.minimum if param is not None else 1
        self.windows[minimum] = int_range(minimum, self.limits.max_window)
        return f"w{minimum}"

    def build(self) -> str:
        if not self.classes:
            return ""
        rules: dict[str, str] = {
            "addop": '" + " | " - "',
            "mulop": '" * " | " / "',
            "cmpop": " | ".join(f'" {op} "' for op in _COMPARE),
            "be": 'cmp | "not (" be ")" | "(" be ") and (" be ")" | "(" be ") or (" be ")"',
            "cmp": " | ".join(
                ["se cmpop (se | num)"] + [f"{c}e cmpop {c}e" for c in self.levels]
            ),
            "se": "(num addop)* st (addop (st | num))*",
            "st": " | ".join(
                ["(num mulop)* su (mulop (su | num))*"]
                + [f'{c}u " / " {c}u (mulop (su | num))*' for c in self.levels]
            ),
        }
        for cls in self.levels:
            rules[f"{cls}e"] = f"{cls}u (addop {cls}u)*"
        for cls in self.classes:
            rules[f"{cls}u"] = f'"-" {cls}u | {cls}a'
            rules[f"{cls}a"] = " | ".join([*self.leaves[cls], *self.calls(cls), f'"(" {cls}e ")"'])
        lines = [f"{name} ::= {alts}" for name, alts in rules.items()]
        lines += [f"w{m} ::= {alts}" for m, alts in sorted(self.windows.items())]
        return "\n".join(lines)

    def calls(self, cls: str) -> list[str]:
        """Calls producing class ``cls``."""
        out: list[str] = []

        def call(name: str, *args: str) -> None:
            if name in OPERATORS:
                out.append(f'"{name}(" ' + ' ", " '.join(args) + ' ")"')

        same = f"{cls}e"
        for name in (*_SAME_TS, *_DIFF_TS):
            call(name, same, self.window(name))
        call("abs", same)
        for name in ("min", "max"):
            call(name, same, f"({same} | num)")
        call("where", "be", same, same)
        if cls != "s":
            return out
        panels = [f"{c}e" for c in self.classes]
        for arg in panels:
            for name in ("pct_change", "ts_rank", "ts_zscore"):
                call(name, arg, self.window(name))
            call("sign", arg)
            for other in panels:
                call("ts_corr", arg, other, self.window("ts_corr"))
        for name in (*_CROSS, *_SCALE_FREE_UNARY):
            call(name, same)
        call("clip", same, '"-" num', "num")
        call("where", "be", "num", "num")
        return out


def strategy_grammar(
    fields: frozenset[str],
    limits: Limits,
    shape: GrammarShape | None = None,
    *,
    saved: tuple[str, ...] = (),
) -> str:
    """The GBNF grammar of one JSON strategy reply on data with these ``fields``.

    Args:
        fields: the data's stored fields (``returns`` is derived from ``close``).
        limits: the expression limits; the grammar keeps to their depth and windows.
        shape: bounds on the non-expression parts of the reply.
        saved: names of the persistent library's scale-free factors on these
            fields, written ``factor('name')`` (single quotes: no JSON escape).

    Raises:
        ValueError: the fields give no scale-free signal at all (no ``close``
            and no other field), so no expression could be sampled.
    """
    shape = shape or GrammarShape()
    builder = _Builder(frozenset(fields), limits, saved)
    body = builder.build()
    top = "se"
    if not body:
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
