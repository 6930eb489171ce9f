"""The dict validator's accept path: one tight function per section.

Most documents are valid, and most values already have the exact type their
field stores (an ``int`` for an int field, a ``str`` for a string field). The
accept path handles that case with checks specialised by kind and bounds (run
inline, kind by kind, when a section gives every field) and builds each frozen
model directly. Anything else (a value
of another type, out of range, an unknown or missing key) raises
:class:`Reject` at once, and the caller runs the full check, which decides and
lists every issue. A value that is not of the exact type goes through the
general checker of :mod:`stratloop.config._schema`, so this path accepts a
subset of what the full check accepts, and builds the same models.
"""

from __future__ import annotations

import datetime as dt
import math
import sys
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from stratloop.config._schema import MISSING, FieldSpec, make_checker

__all__ = ["Reject", "compile_section"]

_Accept = Callable[[Any], Any]
_FLOAT_MAX = sys.float_info.max
_new = object.__new__
_set_dict = BaseModel.__dict__["__dict__"].__set__
_set_fields_set = BaseModel.__dict__["__pydantic_fields_set__"].__set__
_set_extra = BaseModel.__dict__["__pydantic_extra__"].__set__
_set_private = BaseModel.__dict__["__pydantic_private__"].__set__


class Reject(Exception):
    """The accept path cannot take this document as it is; run the full check.

    A control signal between this module and the dict validator, which always
    catches it: it is never shown to anyone, so it is not a ``StratloopError``.
    """


def compile_section(spec: FieldSpec) -> _Accept:  # noqa: C901 - its accept closure, see there
    """The accept function of a section: ``dict -> model``, or :class:`Reject`.

    A document that gives every field (in any order) is checked kind by kind
    in local loops, with no call per field unless a value needs the field's
    full accept function; a partial one goes field by field.

    Args:
        spec: a ``model`` field (the root or a section).
    """
    model = spec.model
    assert model is not None
    assert model.__new__ is object.__new__, "models are built without calling __new__"
    plan = {name: _accept(child) for name, child in spec.children.items()}
    template = {
        name: MISSING if child.required else child.default for name, child in spec.children.items()
    }
    required = frozenset(name for name, child in spec.children.items() if child.required)
    every = set(spec.children)
    size = len(every)
    ranged, strings, literals, others = _groups(spec, plan)

    def accept(data: Any) -> Any:  # noqa: C901 - one frame per section: a call per fill measured 5 % slower
        if type(data) is not dict:
            if isinstance(data, model):
                return data
            raise Reject
        # Every key is in the template, so assigning keeps the model's field order.
        values = template.copy()
        if len(data) == size:
            # A missing field here means an unknown key took its place: KeyError.
            try:
                for key, cls, low, high, full in ranged:
                    value = data[key]
                    values[key] = (
                        value if type(value) is cls and low <= value <= high else full(value)
                    )
                for key, shortest, full in strings:
                    value = data[key]
                    values[key] = (
                        value if type(value) is str and len(value) >= shortest else full(value)
                    )
                for key, cls, allowed, full in literals:
                    value = data[key]
                    values[key] = value if type(value) is cls and value in allowed else full(value)
                for key, full in others:
                    values[key] = full(data[key])
            except KeyError:
                raise Reject from None
            fields_set = every.copy()
        else:
            try:
                for key, value in data.items():
                    values[key] = plan[key](value)
            except KeyError:
                raise Reject from None
            if required and not data.keys() >= required:
                raise Reject
            fields_set = set(data)
        instance = _new(model)
        _set_dict(instance, values)
        _set_fields_set(instance, fields_set)
        _set_extra(instance, None)
        _set_private(instance, None)
        return instance

    return accept


def _groups(spec: FieldSpec, plan: dict[str, _Accept]) -> tuple[Any, Any, Any, Any]:
    """A section's fields grouped by the inline check that accepts their usual values.

    Each entry ends with the field's full accept function, which decides every
    value the inline check does not take as it is (``None``, an int for a
    float field, a value of another type, ...).

    Returns:
        ``(key, class, low, high, full)`` for bool, int, float and date fields;
        ``(key, shortest, full)`` for strings without a pattern; ``(key, class,
        allowed, full)`` for literals of one class; ``(key, full)`` for the rest.
    """
    ranged: list[tuple[str, type, Any, Any, _Accept]] = []
    strings: list[tuple[str, int, _Accept]] = []
    literals: list[tuple[str, type, frozenset[Any], _Accept]] = []
    others: list[tuple[str, _Accept]] = []
    for name, child in spec.children.items():
        full = plan[name]
        closed = _float_range(child) if child.kind == "float" else None
        classes = {v.__class__ for v in child.literals} if child.kind == "literal" else set()
        if child.kind == "bool":
            ranged.append((name, bool, False, True, full))
        elif child.kind == "int":
            ranged.append((name, int, *_int_range(child), full))
        elif child.kind == "date":
            ranged.append((name, dt.date, dt.date.min, dt.date.max, full))
        elif closed is not None:
            ranged.append((name, float, *closed, full))
        elif child.kind == "str" and child.pattern is None:
            strings.append((name, child.min_length or 0, full))
        elif len(classes) == 1:
            literals.append((name, classes.pop(), frozenset(child.literals), full))
        else:
            others.append((name, full))
    return tuple(ranged), tuple(strings), tuple(literals), tuple(others)


def _accept(spec: FieldSpec) -> _Accept:
    """The accept function of one field, specialised to its kind."""
    if spec.kind == "model":
        return compile_section(spec)
    if spec.kind == "list":
        return _empty_list
    compilers: dict[str, Callable[[FieldSpec, _Accept], _Accept]] = {
        "bool": _bool,
        "int": _int,
        "float": _float,
        "str": _str,
        "date": _date,
        "literal": _literal,
    }
    return compilers[spec.kind](spec, _general(spec))


def _empty_list(value: Any) -> Any:
    """An empty list is the default; any element goes to the full check, which lists issues."""
    if type(value) in (list, tuple) and not value:
        return ()
    raise Reject


def _general(spec: FieldSpec) -> _Accept:
    """The full checker for values that are not of the exact type (None, subclasses, ...)."""
    check = make_checker(spec)
    nullable = spec.nullable

    def general(value: Any) -> Any:
        if value is None and nullable:
            return None
        ok, normalised = check(value)
        if ok:
            return normalised
        raise Reject

    return general


def _taking(exact: Callable[[Any], bool], general: _Accept) -> _Accept:
    """Values ``exact`` takes as they are; ``general`` decides every other value."""

    def accept(value: Any) -> Any:
        return value if exact(value) else general(value)

    return accept


def _bool(spec: FieldSpec, general: _Accept) -> _Accept:
    del spec  # every bool is in range
    return _taking(lambda value: value is True or value is False, general)


def _int_range(spec: FieldSpec) -> tuple[float, float]:
    """The closed range of integers the bounds allow (exact for huge integers)."""
    ge, gt, le, lt = spec.bounds
    lows = [-math.inf]
    highs = [math.inf]
    if ge is not None:
        lows.append(math.ceil(ge))
    if gt is not None:
        lows.append(math.floor(gt) + 1)
    if le is not None:
        highs.append(math.floor(le))
    if lt is not None:
        highs.append(math.ceil(lt) - 1)
    return max(lows), min(highs)


def _int(spec: FieldSpec, general: _Accept) -> _Accept:
    """Exact ints within the integer range the bounds allow."""
    low, high = _int_range(spec)
    return _taking(lambda value: type(value) is int and low <= value <= high, general)


def _float_range(spec: FieldSpec) -> tuple[float, float] | None:
    """The closed float range equal to the bounds, or ``None`` if no float range is exact.

    A strict bound becomes the next float inside it, and a missing one the largest
    finite float, so one chained comparison also rejects NaN and infinities. A
    bound that no float represents exactly would break that.
    """
    ge, gt, le, lt = spec.bounds
    if any(b is not None and float(b) != b for b in spec.bounds):
        return None
    lows: list[float] = [-_FLOAT_MAX]
    highs: list[float] = [_FLOAT_MAX]
    if ge is not None:
        lows.append(ge)
    if gt is not None:
        lows.append(math.nextafter(gt, math.inf))
    if le is not None:
        highs.append(le)
    if lt is not None:
        highs.append(math.nextafter(lt, -math.inf))
    return max(lows), min(highs)


def _float(spec: FieldSpec, general: _Accept) -> _Accept:
    """Finite floats in range; ints in range become floats (rounding keeps them in range)."""
    closed = _float_range(spec)
    if closed is None:
        return general
    low, high = closed

    def accept(value: Any) -> Any:
        cls = type(value)
        if cls is float:
            if low <= value <= high:
                return value
        elif cls is int and low <= value <= high:
            return float(value)
        return general(value)

    return accept


def _str(spec: FieldSpec, general: _Accept) -> _Accept:
    min_length = spec.min_length or 0
    if spec.pattern is not None:
        search = spec.pattern.search
        return _taking(
            lambda value: (
                type(value) is str and len(value) >= min_length and search(value) is not None
            ),
            general,
        )
    return _taking(lambda value: type(value) is str and len(value) >= min_length, general)


def _date(spec: FieldSpec, general: _Accept) -> _Accept:
    del spec  # every date is in range
    return _taking(lambda value: type(value) is dt.date, general)


def _literal(spec: FieldSpec, general: _Accept) -> _Accept:
    classes = {v.__class__ for v in spec.literals}
    if len(classes) != 1:
        return general
    (cls,) = classes
    allowed = frozenset(spec.literals)
    return _taking(lambda value: type(value) is cls and value in allowed, general)
