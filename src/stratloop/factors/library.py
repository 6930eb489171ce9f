"""Named factor templates: expressions with integer parameters and their ranges.

A template's text uses ``{name}`` placeholders for its parameters, e.g.
``-ts_std(returns, {n})``. Instantiating substitutes integers and parses the
result, so a template is exactly as safe as any other expression: data, never
code.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import NoReturn

import numpy as np

from stratloop.errors import ExpressionError, FactorTemplateError
from stratloop.factors._suggest import did_you_mean
from stratloop.factors.grammar import parse
from stratloop.factors.limits import EVALUATION_LIMITS, Limits
from stratloop.factors.nodes import Expr
from stratloop.factors.ops import FIELDS
from stratloop.factors.typecheck import typecheck

__all__ = ["FactorDraw", "FactorLibrary", "FactorTemplate", "ParamRange", "default_library"]

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True, slots=True)
class ParamRange:
    """An integer parameter's inclusive range and default."""

    low: int
    high: int
    default: int

    def __post_init__(self) -> None:
        if not self.low <= self.default <= self.high:
            msg = f"need low <= default <= high but got {self.low}, {self.default}, {self.high}"
            raise ValueError(msg)

    def sample(self, rng: np.random.Generator) -> int:
        """A uniform integer in the range."""
        return int(rng.integers(self.low, self.high + 1))


@dataclass(frozen=True, slots=True)
class FactorTemplate:
    """A named factor: an expression template with parameter ranges.

    Args:
        name: lowercase identifier, unique in a library.
        template: expression text with ``{param}`` placeholders.
        params: each placeholder's range and default.
        description: what the factor captures, for people and the LLM prompt.
        source: where it was defined (``built-in`` or a file path).
    """

    name: str
    template: str
    params: Mapping[str, ParamRange] = field(default_factory=dict)
    description: str = ""
    source: str = "built-in"

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))
        if not _NAME.match(self.name):
            self._fail(f"name {self.name!r} must match [a-z][a-z0-9_]*")
        used = set(_PLACEHOLDER.findall(self.template))
        declared = set(self.params)
        if used - declared:
            self._fail(f"placeholders without a range: {sorted(used - declared)}")
        if declared - used:
            self._fail(f"parameters not used in the template: {sorted(declared - used)}")
        for values in (self.defaults(), self.extremes(low=True), self.extremes(low=False)):
            try:
                self._build(values, fields=frozenset(FIELDS), limits=EVALUATION_LIMITS)
            except ExpressionError as error:
                hint = f"; {error.suggestion}" if error.suggestion else ""
                self._fail(f"with {values} the expression is invalid: {error.reason}{hint}")

    def _fail(self, problem: str) -> NoReturn:
        raise FactorTemplateError(self.name, self.source, problem)

    def defaults(self) -> dict[str, int]:
        """Every parameter at its default."""
        return {name: spec.default for name, spec in self.params.items()}

    def extremes(self, *, low: bool) -> dict[str, int]:
        """Every parameter at its lower (or upper) bound."""
        return {name: spec.low if low else spec.high for name, spec in self.params.items()}

    def render(self, values: Mapping[str, int]) -> str:
        """The template text with ``values`` substituted."""
        return _PLACEHOLDER.sub(lambda match: str(int(values[match.group(1)])), self.template)

    def _build(self, values: Mapping[str, int], *, fields: frozenset[str], limits: Limits) -> Expr:
        return typecheck(parse(self.render(values), limits=limits), fields=fields, limits=limits)

    def instantiate(
        self,
        values: Mapping[str, int] | None = None,
        *,
        fields: frozenset[str] | None = None,
        limits: Limits | None = None,
    ) -> Expr:
        """The expression with ``values`` (defaults for missing ones), checked.

        Raises:
            FactorTemplateError: an unknown parameter or a value out of its range.
            ExpressionError: the result does not fit ``fields`` or ``limits``.
        """
        chosen = self.defaults()
        for name, value in (values or {}).items():
            spec = self.params.get(name)
            if spec is None:
                hint = did_you_mean(name, self.params) or f"parameters: {sorted(self.params)}"
                self._fail(f"unknown parameter {name!r}; {hint}")
            if isinstance(value, bool) or not isinstance(value, int | np.integer):
                self._fail(f"parameter {name!r} must be an integer but got {value!r}")
            if not spec.low <= value <= spec.high:
                self._fail(f"parameter {name!r} must be in [{spec.low}, {spec.high}], got {value}")
            chosen[name] = int(value)
        return self._build(
            chosen, fields=fields or frozenset(FIELDS), limits=limits or EVALUATION_LIMITS
        )

    def sample_values(self, rng: np.random.Generator) -> dict[str, int]:
        """Random parameter values, drawn in the parameters' declared order."""
        return {name: spec.sample(rng) for name, spec in self.params.items()}


class FactorLibrary:
    """An ordered, immutable collection of uniquely named templates."""

    def __init__(self, templates: Iterable[FactorTemplate]) -> None:
        by_name: dict[str, FactorTemplate] = {}
        for template in templates:
            if template.name in by_name:
                raise FactorTemplateError(
                    template.name,
                    template.source,
                    f"the name is already taken (by {by_name[template.name].source})",
                )
            by_name[template.name] = template
        if not by_name:
            msg = "a factor library needs at least one template"
            raise ValueError(msg)
        self._templates = MappingProxyType(by_name)
        self._usable: dict[tuple[frozenset[str], Limits], tuple[FactorTemplate, ...]] = {}

    @property
    def templates(self) -> tuple[FactorTemplate, ...]:
        """The templates in definition order."""
        return tuple(self._templates.values())

    @property
    def names(self) -> tuple[str, ...]:
        """Template names in definition order."""
        return tuple(self._templates)

    def __len__(self) -> int:
        return len(self._templates)

    def __contains__(self, name: object) -> bool:
        return name in self._templates

    def get(self, name: str) -> FactorTemplate:
        """The template called ``name``; a did-you-mean error if there is none."""
        template = self._templates.get(name)
        if template is None:
            hint = did_you_mean(name, self._templates) or f"known: {', '.join(self._templates)}"
            raise FactorTemplateError(name, "library", f"no such factor; {hint}")
        return template

    def with_templates(self, templates: Iterable[FactorTemplate]) -> FactorLibrary:
        """A new library with ``templates`` appended; a duplicate name is an error."""
        return FactorLibrary([*self.templates, *templates])

    def instantiate(
        self,
        name: str,
        params: Mapping[str, int] | None = None,
        *,
        fields: frozenset[str] | None = None,
        limits: Limits | None = None,
    ) -> Expr:
        """The named factor's expression with ``params`` substituted."""
        return self.get(name).instantiate(params, fields=fields, limits=limits)

    def usable(self, fields: frozenset[str], limits: Limits) -> tuple[FactorTemplate, ...]:
        """Templates whose default instance fits these fields and limits.

        Remembered per (fields, limits): the library is immutable and every
        factor draw of a mutation asks again.
        """
        key = (frozenset(fields), limits)
        if key not in self._usable:
            found = []
            for template in self.templates:
                try:
                    template.instantiate(fields=fields, limits=limits)
                except (ExpressionError, FactorTemplateError):
                    continue
                found.append(template)
            self._usable[key] = tuple(found)
        return self._usable[key]

    def draw(
        self,
        rng: np.random.Generator,
        *,
        fields: frozenset[str] | None = None,
        limits: Limits | None = None,
    ) -> FactorDraw:
        """A random template with random parameters, fitting ``fields`` and ``limits`` if given.

        Windows above ``limits.max_window`` are lowered to it (never below the
        parameter's range).

        Raises:
            FactorTemplateError: no template fits the fields and limits.
        """
        restricted = fields is not None or limits is not None
        pool = (
            self.usable(fields or frozenset(FIELDS), limits or EVALUATION_LIMITS)
            if restricted
            else self.templates
        )
        if not pool:
            raise FactorTemplateError(
                "*", "library", f"no template fits fields {sorted(fields or ())} and {limits}"
            )
        template = pool[int(rng.integers(len(pool)))]
        values = template.sample_values(rng)
        if limits is not None:
            values = {
                name: max(template.params[name].low, min(value, limits.max_window))
                for name, value in values.items()
            }
        try:
            expr = template.instantiate(values, fields=fields, limits=limits)
        except (ExpressionError, FactorTemplateError):
            values = template.defaults()
            expr = template.instantiate(values, fields=fields, limits=limits)
        return FactorDraw(template, values, expr)


@dataclass(frozen=True, slots=True)
class FactorDraw:
    """A sampled factor: the template, the parameter values and the expression."""

    template: FactorTemplate
    values: Mapping[str, int]
    expr: Expr


def _t(
    name: str, template: str, description: str, **params: tuple[int, int, int]
) -> FactorTemplate:
    ranges = {key: ParamRange(*bounds) for key, bounds in params.items()}
    return FactorTemplate(name, template, ranges, description)


_DEFAULTS = (
    _t("momentum_12_1", "delay(pct_change(close, {lookback}), {skip})",
       "12-1 momentum: the return over about a year, skipping the most recent month",
       lookback=(120, 240, 231), skip=(5, 42, 21)),
    _t("short_term_reversal", "-pct_change(close, {n})",
       "short-term reversal: last week's losers bounce", n=(2, 21, 5)),
    _t("low_volatility", "-ts_std(returns, {n})",
       "low volatility: calmer stocks earn more per unit of risk", n=(20, 252, 60)),
    _t("vol_adjusted_momentum", "pct_change(close, {n}) / ts_std(returns, {n})",
       "volatility-adjusted momentum: return per unit of daily volatility", n=(20, 252, 126)),
    _t("trend", "close / ts_mean(close, {n}) - 1",
       "trend: price above its moving average", n=(20, 252, 100)),
    _t("dual_moving_average", "ts_mean(close, {fast}) / ts_mean(close, {slow}) - 1",
       "dual moving average: fast average over slow average",
       fast=(5, 50, 20), slow=(60, 252, 120)),
    _t("breakout", "(close - ts_min(close, {n})) / (ts_max(close, {n}) - ts_min(close, {n}))",
       "breakout: where the price sits in its n-day channel (1 = at the high)", n=(20, 252, 55)),
    _t("rsi_oscillator",
       "ts_mean(max(delta(close, 1), 0), {n}) / ts_mean(abs(delta(close, 1)), {n})",
       "RSI-like oscillator: share of up-moves in total movement", n=(5, 30, 14)),
    _t("zscore_reversion", "-ts_zscore(close, {n})",
       "z-score mean reversion: prices far below their mean revert up", n=(5, 60, 20)),
    _t("drawdown_from_high", "close / ts_max(close, {n}) - 1",
       "drawdown from the n-day high (0 at the high)", n=(20, 252, 126)),
    _t("return_skew", "-ts_mean(returns * returns * returns, {n}) / "
       "(ts_std(returns, {n}) * ts_std(returns, {n}) * ts_std(returns, {n}))",
       "return skew proxy: prefer negatively skewed (lottery-averse) returns", n=(20, 252, 60)),
    _t("multi_factor", "rank(pct_change(close, {mom})) - rank(ts_std(returns, {vol})) "
       "+ rank(-pct_change(close, {rev}))",
       "rank-combined multi-factor: momentum, low volatility and reversal",
       mom=(60, 252, 126), vol=(20, 126, 60), rev=(2, 21, 5)),
    _t("ema_reversion", "-(close / ema(close, {n}) - 1)",
       "distance below the exponential moving average", n=(5, 100, 20)),
    _t("smoothed_return", "decay_linear(returns, {n})",
       "recent returns, newest weighted most", n=(5, 60, 10)),
    _t("price_position", "ts_rank(close, {n})",
       "today's price rank within its recent history", n=(5, 120, 20)),
)


def default_library() -> FactorLibrary:
    """The built-in templates (15 classic factors)."""
    return FactorLibrary(_DEFAULTS)
