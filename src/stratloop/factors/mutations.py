"""Graph rewrites of a strategy: each yields a valid spec that differs from its parent.

Operators: ``parameter`` (one window, within its range), ``operator_swap``
(a function or infix operator for another of the same signature); both
rewrite a node of the DAG, so every use of a shared subexpression changes
together.
Every choice respects units: a swap keeps its node's unit (or another
scale-free one), a library factor (scale-free) replaces only a scale-free
subtree or a level where a scale-free input is required (repairing a parent
recorded before the unit rules), and a crossover donor has the unit its place
needs. The child is type-checked with the unit rules before it is returned.
``add_factor`` (rank-weighted sum with a library factor or a saved one,
``factor("name")``), ``remove_factor``
(drop one term of a sum), ``replace_subtree`` (a subtree becomes a library
factor), ``crossover`` (a subtree from a second parent) and ``portfolio``
(the portfolio rule or exits). Every random choice comes from the given
``numpy.random.Generator``, so the same generator state gives the same child.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from stratloop.errors import ExpressionError, FactorTemplateError, MutationError
from stratloop.factors._suggest import did_you_mean
from stratloop.factors.grammar import FactorReferences, parse
from stratloop.factors.graph import Path, inline, replace_all, replace_at, subtrees
from stratloop.factors.library import FactorLibrary
from stratloop.factors.limits import EVALUATION_LIMITS, Limits
from stratloop.factors.nodes import Binary, Call, Expr, Number, Ref
from stratloop.factors.ops import OPERATORS
from stratloop.factors.typecheck import available_fields, infer_type, typecheck
from stratloop.factors.units import DIMENSIONLESS, Unit
from stratloop.spec import Exits, Lineage, LongShort, Strategy, Threshold, TopN

__all__ = ["MUTATION_OPERATORS", "default_top_n", "mutate", "top_n_ceiling"]

_SWAP_GROUPS = (("+", "-"), ("*", "/"), ("<", "<=", ">", ">="), ("==", "!="), ("and", "or"))
_WEIGHTS = (0.25, 0.5, 1.0, 2.0)
_REBALANCE_DAYS = (1, 5, 10, 21, 42, 63)
_QUANTILES = (0.1, 0.2, 0.25, 0.3, 0.4, 0.5)
_STOP_LOSSES = (None, 0.05, 0.1, 0.15, 0.2)
_HOLDING_DAYS = (None, 10, 21, 63, 126)


@dataclass(frozen=True, slots=True)
class _Context:
    rng: np.random.Generator
    library: FactorLibrary
    limits: Limits
    fields: frozenset[str]
    other: Strategy | None
    n_assets: int | None
    saved: tuple[Ref, ...] = ()

    def pick(self, count: int) -> int:
        return int(self.rng.integers(count))


_Result = tuple[Expr | Strategy, dict[str, Any]] | None
"""A new expression (or whole strategy for portfolio moves) and its lineage params."""


def _unit(node: Expr, ctx: _Context) -> Unit | None:
    """The unit of a numeric panel subtree; None for conditions, constants and invalid trees."""
    try:
        kind = infer_type(node, fields=ctx.fields, limits=EVALUATION_LIMITS)
    except ExpressionError:
        return None
    return kind.unit if kind.value == "num" and kind.panel else None


def _interchangeable(unit: Unit, other: Unit) -> bool:
    """Units one may stand in for the other without changing any unit rule's outcome."""
    return unit == other or (unit.scale_free and other.scale_free)


def _places(expr: Expr, ctx: _Context) -> list[tuple[Path, Expr, Unit]]:
    """Numeric panel subtrees, each with the unit a replacement must have.

    That is the subtree's own unit, except for the signal itself and inputs
    of cross-sectional operators, which must be scale-free whatever they are.
    """
    nodes = dict(subtrees(expr))
    found = []
    for path, node in nodes.items():
        unit = _unit(node, ctx)
        if unit is None:
            continue
        parent = nodes.get(path[:-1]) if path else None
        required = not path or (
            isinstance(parent, Call) and OPERATORS[parent.name].category == "cross_section"
        )
        found.append((path, node, DIMENSIONLESS if required else unit))
    return found


def _distinct(expr: Expr) -> list[tuple[Path, Expr]]:
    """Each distinct subexpression once (the DAG's nodes), with its first path."""
    seen: set[str] = set()
    found = []
    for path, node in subtrees(expr):
        if node.key not in seen:
            seen.add(node.key)
            found.append((path, node))
    return found


def _parameter(expr: Expr, ctx: _Context) -> _Result:
    slots: list[tuple[Path, Call, int]] = []
    for path, node in _distinct(expr):
        if isinstance(node, Call):
            for index, param in enumerate(OPERATORS[node.name].params):
                if param.kind == "window":
                    slots.append((path, node, index))
    if not slots:
        return None
    path, call, index = slots[ctx.pick(len(slots))]
    minimum = OPERATORS[call.name].params[index].minimum
    arg = call.args[index]
    old = int(arg.value) if isinstance(arg, Number) else minimum
    step = max(1, round(old * float(ctx.rng.uniform(0.1, 0.5))))
    direction = 1 if ctx.rng.random() < 0.5 else -1
    new = min(max(old + direction * step, minimum), ctx.limits.max_window)
    if new == old:
        new = min(max(old - direction * step, minimum), ctx.limits.max_window)
    args = list(call.args)
    args[index] = Number(new)
    params = {"path": _path_text((*path, index)), "operator": call.name, "old": old, "new": new}
    return replace_all(expr, call, Call(call.name, tuple(args))), params


def _operator_swap(expr: Expr, ctx: _Context) -> _Result:
    options: list[tuple[Path, Call | Binary, tuple[str, ...]]] = []
    for path, node in _distinct(expr):
        if isinstance(node, Call):
            operator = OPERATORS[node.name]
            same = tuple(
                other.name
                for other in OPERATORS.values()
                if other.shape == operator.shape
                and other.category == operator.category
                and other.name != node.name
            )
        elif isinstance(node, Binary):
            group = next((g for g in _SWAP_GROUPS if node.op in g), ())
            same = tuple(symbol for symbol in group if symbol != node.op)
        else:
            continue
        same = _unit_preserving(node, same, ctx)
        if same:
            options.append((path, node, same))
    if not options:
        return None
    path, node, choices = options[ctx.pick(len(options))]
    chosen = choices[ctx.pick(len(choices))]
    old = node.name if isinstance(node, Call) else node.op
    params = {"path": _path_text(path), "old": old, "new": chosen}
    return replace_all(expr, node, _swapped(node, chosen)), params


def _swapped(node: Call | Binary, name: str) -> Expr:
    """``node`` with its function or infix operator replaced by ``name``."""
    if isinstance(node, Call):
        return Call(name, node.args)
    return Binary(name, node.left, node.right)


def _unit_preserving(node: Call | Binary, names: tuple[str, ...], ctx: _Context) -> tuple[str, ...]:
    """The swaps of ``node`` whose result has a unit interchangeable with its own.

    Conditions and constants have no unit to keep; their swaps all stay.
    """
    unit = _unit(node, ctx)
    if unit is None:
        return names
    kept = []
    for name in names:
        swapped = _unit(_swapped(node, name), ctx)
        if swapped is not None and _interchangeable(unit, swapped):
            kept.append(name)
    return tuple(kept)


def _draw_factor(ctx: _Context) -> tuple[Expr, dict[str, Any]]:
    """A template of the library or, half the time when there are any, a saved factor's leaf."""
    if ctx.saved and ctx.pick(2) == 0:
        ref = ctx.saved[ctx.pick(len(ctx.saved))]
        return ref, {"saved_factor": ref.name}
    draw = ctx.library.draw(ctx.rng, fields=ctx.fields, limits=ctx.limits)
    return draw.expr, {"factor": draw.template.name, "factor_params": dict(draw.values)}


def _ranked(expr: Expr) -> Expr:
    if isinstance(expr, Call) and expr.name == "rank":
        return expr
    if isinstance(expr, Binary) and expr.op in ("+", "-"):
        return expr
    return Call("rank", (expr,))


def _add_factor(expr: Expr, ctx: _Context) -> _Result:
    factor, params = _draw_factor(ctx)
    weight = _WEIGHTS[ctx.pick(len(_WEIGHTS))]
    term = Call("rank", (factor,))
    weighted: Expr = term if weight == 1.0 else Binary("*", Number(weight), term)
    params["weight"] = weight
    return Binary("+", _ranked(expr), weighted), params


def _terms(expr: Expr) -> list[tuple[str, Expr]]:
    """Signed terms of a top-level chain of + and -."""
    if isinstance(expr, Binary) and expr.op in ("+", "-"):
        return [*_terms(expr.left), (expr.op, expr.right)]
    return [("+", expr)]


def _remove_factor(expr: Expr, ctx: _Context) -> _Result:
    terms = _terms(expr)
    if len(terms) < 2:
        return None
    index = ctx.pick(len(terms))
    removed = terms[index][1]
    kept = terms[:index] + terms[index + 1 :]
    sign, rebuilt = kept[0]
    if sign == "-":
        rebuilt = Binary("*", Number(-1), rebuilt)
    for op, term in kept[1:]:
        rebuilt = Binary(op, rebuilt, term)
    return rebuilt, {"removed": removed.text}


def _replace_subtree(expr: Expr, ctx: _Context) -> _Result:
    places = [(path, node) for path, node, unit in _places(expr, ctx) if unit.scale_free]
    if not places:
        return None
    path, old = places[ctx.pick(len(places))]
    factor, params = _draw_factor(ctx)
    params.update({"path": _path_text(path), "old": old.text})
    return replace_at(expr, path, factor), params


def _crossover(expr: Expr, ctx: _Context) -> _Result:
    if ctx.other is None:
        return None
    donor_expr = parse(ctx.other.expression, limits=EVALUATION_LIMITS)
    places = _places(expr, ctx)
    if not places:
        return None
    path, old, needed = places[ctx.pick(len(places))]
    donors = [
        node
        for _, node in subtrees(donor_expr)
        if (unit := _unit(node, ctx)) is not None and _interchangeable(needed, unit)
    ]
    if not donors:
        return None
    donor = donors[ctx.pick(len(donors))]
    params = {"path": _path_text(path), "old": old.text, "donor": donor.text}
    return replace_at(expr, path, donor), params


def _choice(values: tuple[Any, ...], current: Any, ctx: _Context) -> Any:
    others = [value for value in values if value != current]
    return others[ctx.pick(len(others))]


def _portfolio(strategy: Strategy, ctx: _Context) -> _Result:
    rule = strategy.portfolio
    knobs = ["rebalance_days", "stop_loss", "max_holding_days", "kind"]
    knobs.append({"top_n": "n", "long_short": "quantile", "threshold": "upper"}[rule.kind])
    knob = knobs[ctx.pick(len(knobs))]
    exits = strategy.exits
    old: Any
    new: Any
    if knob in ("stop_loss", "max_holding_days"):
        old = getattr(exits, knob)
        options = _STOP_LOSSES if knob == "stop_loss" else _HOLDING_DAYS
        new = _choice(options, old, ctx)
        exits = Exits.model_validate({**exits.model_dump(), knob: new})
        changed = strategy.model_copy(update={"exits": exits})
        return changed, {"field": f"exits.{knob}", "old": old, "new": new}
    if knob == "rebalance_days":
        old = rule.rebalance_days
        new = _choice(_REBALANCE_DAYS, old, ctx)
        portfolio: TopN | LongShort | Threshold = rule.model_copy(update={"rebalance_days": new})
    elif knob == "kind":
        old = rule.kind
        if isinstance(rule, TopN):
            portfolio = LongShort(quantile=0.2, rebalance_days=rule.rebalance_days)
        else:
            portfolio = TopN(n=_default_n(ctx), rebalance_days=rule.rebalance_days)
        new = portfolio.kind
    elif isinstance(rule, TopN):
        old = rule.n
        ceiling = top_n_ceiling(ctx.n_assets)
        step = max(1, round(old * float(ctx.rng.uniform(0.1, 0.5))))
        new = min(max(old + (step if ctx.rng.random() < 0.5 else -step), 1), ceiling)
        portfolio = TopN(n=new, rebalance_days=rule.rebalance_days)
    elif isinstance(rule, LongShort):
        old = rule.quantile
        new = _choice(_QUANTILES, old, ctx)
        portfolio = LongShort(quantile=new, rebalance_days=rule.rebalance_days)
    else:
        old = rule.upper
        new = round(old + float(ctx.rng.normal(0.0, 0.25)) * max(abs(old), 0.1), 6)
        lower = rule.lower if rule.lower is None or rule.lower <= new else new
        portfolio = Threshold(upper=new, lower=lower, rebalance_days=rule.rebalance_days)
    changed = strategy.model_copy(update={"portfolio": portfolio})
    return changed, {"field": f"portfolio.{knob}", "old": old, "new": new}


def _default_n(ctx: _Context) -> int:
    return default_top_n(ctx.n_assets)


_TOP_N_LIMIT = next(
    int(bound.le) for bound in TopN.model_fields["n"].metadata if hasattr(bound, "le")
)
"""The largest ``TopN.n`` the spec accepts."""


def top_n_ceiling(n_assets: int | None) -> int:
    """The largest top-N a mutation may reach: the universe, within the spec's limit."""
    return min(n_assets or _TOP_N_LIMIT, _TOP_N_LIMIT)


def default_top_n(n_assets: int | None) -> int:
    """A quarter of the universe (of 20 assets when unknown), within the spec's limit."""
    return min(max(1, (n_assets or 20) // 4), _TOP_N_LIMIT)


def _path_text(path: Path) -> str:
    return ".".join(str(index) for index in path) or "root"


_ExprMutation = Callable[[Expr, _Context], _Result]
_EXPRESSION_MUTATIONS: Mapping[str, _ExprMutation] = {
    "parameter": _parameter,
    "operator_swap": _operator_swap,
    "add_factor": _add_factor,
    "remove_factor": _remove_factor,
    "replace_subtree": _replace_subtree,
    "crossover": _crossover,
}

MUTATION_OPERATORS: tuple[str, ...] = (*_EXPRESSION_MUTATIONS, "portfolio")
"""Every mutation operator by name."""


def _apply(name: str, strategy: Strategy, expr: Expr, ctx: _Context) -> _Result:
    if name == "portfolio":
        return _portfolio(strategy, ctx)
    return _EXPRESSION_MUTATIONS[name](expr, ctx)


def _validated(result: Expr | Strategy, strategy: Strategy, ctx: _Context) -> Strategy:
    if isinstance(result, Strategy):
        return result
    checked = inline(typecheck(result, fields=ctx.fields, limits=ctx.limits))
    return strategy.model_copy(update={"expression": checked.text})


def _usable_saved(saved: FactorReferences | None, fields: frozenset[str]) -> tuple[Ref, ...]:
    """The saved factors as leaves, those whose fields the data has."""
    if saved is None:
        return ()
    leaves = (Ref(name, saved.resolve(name)) for name in saved.names)
    return tuple(leaf for leaf in leaves if leaf.fields <= fields)


def mutate(
    strategy: Strategy,
    rng: np.random.Generator,
    *,
    library: FactorLibrary,
    limits: Limits,
    fields: frozenset[str],
    operator: str | None = None,
    other: Strategy | None = None,
    max_attempts: int = 25,
    n_assets: int | None = None,
    saved: FactorReferences | None = None,
) -> tuple[Strategy, Lineage]:
    """A valid child of ``strategy`` that differs from it, and its lineage.

    Args:
        strategy: the parent; its expression must parse.
        rng: the only source of randomness; the same state gives the same child.
        library: factors for add / replace.
        limits: bounds the child must respect.
        fields: the data's stored fields.
        operator: force one operator (see ``MUTATION_OPERATORS``); random when None.
        other: the second parent, needed by ``crossover``.
        max_attempts: rewrites to try before giving up.
        n_assets: the number of assets, bounding ``TopN.n`` (within the spec's 1000).
        saved: the persistent library's factors, which ``add_factor`` and
            ``replace_subtree`` insert as ``factor("name")`` leaves (recorded
            inlined, with the name in the lineage); those using fields the
            data lacks are left out. None or empty: templates only, drawn
            exactly as without a library.

    Raises:
        MutationError: an unknown operator, or no valid, different child within
            ``max_attempts`` (the message has the last reason).
    """
    if operator is not None and operator not in MUTATION_OPERATORS:
        hint = did_you_mean(operator, MUTATION_OPERATORS) or f"known: {MUTATION_OPERATORS}"
        raise MutationError(f"unknown mutation operator {operator!r}; {hint}")
    if operator == "crossover" and other is None:
        raise MutationError("the crossover operator needs a second parent (other=...)")
    usable = available_fields(fields)
    expr = parse(strategy.expression, limits=EVALUATION_LIMITS)
    base = strategy.model_copy(update={"expression": expr.text})
    ctx = _Context(rng, library, limits, usable, other, n_assets, _usable_saved(saved, usable))
    names = [name for name in MUTATION_OPERATORS if other is not None or name != "crossover"]
    reason = "no attempt made"
    for _ in range(max_attempts):
        name = operator or names[ctx.pick(len(names))]
        try:
            result = _apply(name, base, expr, ctx)
            if result is None:
                reason = f"{name} does not apply to {expr.text!r}"
                continue
            child = _validated(result[0], base, ctx)
        except (ExpressionError, FactorTemplateError) as error:
            reason = f"{name} gave an invalid expression: {error}"
            continue
        if child.canonical_json() == base.canonical_json():
            reason = f"{name} gave back the parent"
            continue
        parents: tuple[str, ...] = (strategy.strategy_id(),)
        if name == "crossover" and other is not None:
            parents = (*parents, other.strategy_id())
        return child, Lineage(parents=parents, operator=name, params=result[1])
    raise MutationError(
        f"no valid mutation of strategy {strategy.strategy_id()} "
        f"({operator or 'any operator'}) in {max_attempts} attempts; last: {reason}"
    )
