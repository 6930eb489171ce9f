"""The DSL reference, generated from the operator table and a factor library.

``docs/factors.md`` embeds this text and the LLM prompt includes it, so both
always describe exactly what the parser accepts.
"""

from __future__ import annotations

from stratloop.factors.library import FactorLibrary, default_library
from stratloop.factors.ops import FIELD_UNITS, FIELDS, INFIX, OPERATORS, Category
from stratloop.factors.units import RULE_SUMMARIES

__all__ = ["dsl_reference"]

_TITLES: dict[Category, str] = {
    "time_series": "Time-series operators (per asset, looking back over rows)",
    "cross_section": "Cross-sectional operators (per date, across assets)",
    "element_wise": "Element-wise operators",
}

_GRAMMAR = """\
```
expr    := expr "or" expr | expr "and" expr | "not" expr
         | expr ("<" | "<=" | ">" | ">=" | "==" | "!=") expr
         | expr ("+" | "-") expr | expr ("*" | "/") expr
         | "-" expr | primary
primary := NUMBER | FIELD | NAME "(" [expr ("," expr)*] ")" | "(" expr ")"
```"""


_RULE = "|---|---|---|---|"
_OPERATOR_RULE = "|---|---|---|---|---|"

_UNITS = """\
Every expression has a unit: `price` (close, open, high, low), `volume`, their
products and ratios (`close * volume` is dollar volume, `close / delay(close, 20)`
is dimensionless), `rank`, or a log level (`log(close)`). `+`, `-`, comparisons,
`min`, `max` and `where` need operands of one unit (a number literal fits any);
`*` and `/` multiply and divide units.

Cross-sectional operators and the portfolio selection (the whole expression)
compare values across assets, so they accept only scale-free units:
dimensionless numbers (returns, ratios of same-unit series such as
`close / ts_mean(close, 20)`) and ranks. A price or volume level is refused
(`rank(close)` is a unit error): back-adjusted levels encode future splits and
dividends, and are not comparable across stocks."""


def _lookback(rule: str) -> str:
    return {"window": "lookback(x) + n - 1", "lag": "lookback(x) + n", "none": "lookback(x)"}[rule]


def dsl_reference(library: FactorLibrary | None = None) -> str:
    """Markdown reference of the grammar, fields, operators and factor templates.

    Args:
        library: the templates to list; the built-in library when omitted.
    """
    lines = [
        "## Grammar",
        "",
        _GRAMMAR,
        "",
        "Infix operators, loosest first (all left-associative):",
        "",
    ]
    by_level: dict[int, list[str]] = {}
    for infix in INFIX.values():
        by_level.setdefault(infix.precedence, []).append(f"`{infix.symbol}`")
    by_level[3] = ["`not` (prefix)"]
    by_level[7] = ["`-` (prefix)"]
    lines += [f"{level}. {' '.join(symbols)}" for level, symbols in sorted(by_level.items())]
    lines += [
        "",
        "Comparisons and `and` / `or` / `not` give conditions (1.0 / 0.0, NaN where an input is",
        "NaN); a condition is not a number: use `where(cond, a, b)`. The whole expression must",
        "be a numeric panel. Windows and lags are integer literals. Division by zero and other",
        "infinities give NaN.",
        "",
        "## Fields",
        "",
        *[
            f"- `{name}` ({FIELD_UNITS[name].describe()}): {text}"
            for name, text in FIELDS.items()
        ],
        "",
        "## Units",
        "",
        _UNITS,
    ]
    for category, title in _TITLES.items():
        header = "| signature | lookback | unit | computes | NaN |"
        lines += ["", f"## {title}", "", header, _OPERATOR_RULE]
        lines += [
            f"| `{op.signature}` | {_lookback(op.lookback)} | {RULE_SUMMARIES[op.unit]} "
            f"| {op.summary} | {op.nan} |"
            for op in OPERATORS.values()
            if op.category == category
        ]
    lines += ["", "## Factor templates", "", "| name | expression | parameters | idea |", _RULE]
    for template in (library or default_library()).templates:
        params = ", ".join(
            f"{name} in [{spec.low}, {spec.high}] (default {spec.default})"
            for name, spec in template.params.items()
        )
        lines.append(
            f"| `{template.name}` | `{template.template}` | {params} | {template.description} |"
        )
    return "\n".join(lines) + "\n"
