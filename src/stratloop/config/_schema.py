"""The configuration schema, compiled once from the Pydantic models.

One :class:`FieldSpec` per field path, derived from the models' annotations
and constraints, so the models stay the single source of truth. It serves the
Phase 1 dict validator (which checks values against it), the "allowed" text of
every error message on both validation paths, and the lookup of override paths
with "did you mean" suggestions.
"""

from __future__ import annotations

import datetime as dt
import difflib
import math
import re
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import annotated_types
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from stratloop.config.models import StratloopConfig

__all__ = ["MISSING", "ROOT", "FieldSpec", "Kind", "lookup", "make_checker", "suggest"]

Kind = Literal["bool", "int", "float", "str", "date", "literal", "model", "list"]
_Bound = int | float | None


class _Missing:
    """The value of a required field that is not there."""

    def __repr__(self) -> str:
        return "<missing>"


MISSING: Any = _Missing()
"""Stands for an absent value in a :class:`~stratloop.errors.ConfigIssue`."""


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """What one configuration field accepts.

    Args:
        path: dotted path, empty for the root.
        kind: the value's type family.
        nullable: whether ``null`` is accepted.
        required: whether the key must be present.
        default: the value used when the key is absent (unused when required).
        literals: the accepted values of a ``literal`` field.
        bounds: ``(ge, gt, le, lt)``; ``None`` where unbounded.
        min_length: shortest accepted string.
        pattern: regular expression a string must match entirely.
        model: the section model of a ``model`` field.
        children: the fields of a ``model`` field, by key.
        item: the spec of each element of a ``list`` field (a ``model`` spec).
        max_length: longest accepted list.
    """

    path: str
    kind: Kind
    nullable: bool = False
    required: bool = False
    default: Any = None
    literals: tuple[Any, ...] = ()
    bounds: tuple[_Bound, _Bound, _Bound, _Bound] = (None, None, None, None)
    min_length: int | None = None
    pattern: re.Pattern[str] | None = None
    model: type[BaseModel] | None = None
    children: Mapping[str, FieldSpec] = field(default_factory=dict)
    item: FieldSpec | None = None
    max_length: int | None = None

    @property
    def allowed(self) -> str:
        """What the field accepts, in words."""
        text = _describe(self)
        return f"{text} or null" if self.nullable else text


def _describe(spec: FieldSpec) -> str:
    if spec.kind == "literal":
        if spec.literals == (1,):
            return "the integer 1"
        return "one of " + ", ".join(repr(v) for v in spec.literals)
    if spec.kind == "str":
        return _describe_str(spec)
    if spec.kind == "model":
        return "a mapping with keys from: " + ", ".join(spec.children)
    if spec.kind == "list":
        assert spec.item is not None
        most = f"at most {spec.max_length} " if spec.max_length is not None else ""
        return f"a list of {most}mappings with keys from: " + ", ".join(spec.item.children)
    suffix = _range_text(spec.bounds) if spec.kind in {"int", "float"} else ""
    return _NOUNS[spec.kind] + suffix


def _describe_str(spec: FieldSpec) -> str:
    if spec.pattern is not None:
        return f"a string matching {spec.pattern.pattern.removesuffix(chr(92) + 'Z')}$"
    return "a non-empty string" if spec.min_length else "a string"


_NOUNS = {
    "bool": "true or false",
    "date": "a date written YYYY-MM-DD",
    "int": "an integer",
    "float": "a finite number (int or float, not a string)",
}


def _range_text(bounds: tuple[_Bound, _Bound, _Bound, _Bound]) -> str:
    ge, gt, le, lt = (
        None if b is None else f"{b:g}" if isinstance(b, float) else str(b) for b in bounds
    )
    if ge is not None and le is not None:
        return f" from {ge} to {le}"
    parts = [
        f"{op} {b}" for op, b in ((">=", ge), (">", gt), ("<=", le), ("<", lt)) if b is not None
    ]
    return (" " + " and ".join(parts)) if parts else ""


def _bounds_test(spec: FieldSpec) -> Callable[[Any], bool]:
    """A comparison specialised to the field's bounds; int bounds stay exact for huge integers."""
    ge, gt, le, lt = spec.bounds
    tests: list[Callable[[Any], bool]] = [
        test
        for bound, test in (
            (ge, lambda x: x >= ge),
            (gt, lambda x: x > gt),
            (le, lambda x: x <= le),
            (lt, lambda x: x < lt),
        )
        if bound is not None
    ]
    if not tests:
        return lambda _x: True
    if len(tests) == 1:
        return tests[0]
    first, second = tests[0], tests[-1]
    return lambda x: first(x) and second(x)


def _number_checker(spec: FieldSpec) -> Callable[[Any], tuple[bool, Any]]:
    in_bounds = _bounds_test(spec)
    if spec.kind == "int":

        def check_int(value: Any) -> tuple[bool, Any]:
            if value.__class__ is bool or not isinstance(value, int):
                return False, value
            # Pydantic stores an int subclass (an IntEnum member) as a plain int.
            return in_bounds(value), value if type(value) is int else int.__int__(value)

        return check_int

    def check_float(value: Any) -> tuple[bool, Any]:
        if value.__class__ is bool or not isinstance(value, (int, float)):
            return False, value
        try:
            number = float(value)
        except OverflowError:
            return False, value
        if not math.isfinite(number):
            return False, value
        return in_bounds(number), number

    return check_float


def _str_checker(spec: FieldSpec) -> Callable[[Any], tuple[bool, Any]]:
    min_length = spec.min_length or 0
    search = spec.pattern.search if spec.pattern is not None else None

    def check_str(value: Any) -> tuple[bool, Any]:
        if not isinstance(value, str):
            return False, value
        text = str.__str__(value)  # a str subclass (a str Enum member) is stored as a plain str
        ok = len(text) >= min_length and (search is None or search(text) is not None)
        return ok, text

    return check_str


def _other_checker(spec: FieldSpec) -> Callable[[Any], tuple[bool, Any]]:
    if spec.kind == "bool":
        return lambda value: (value is True or value is False, value)
    if spec.kind == "date":
        return lambda value: (
            isinstance(value, dt.date) and not isinstance(value, dt.datetime),
            value,
        )
    if spec.kind == "literal":
        return _literal_checker(spec.literals)
    if spec.kind == "list":
        longest = spec.max_length
        return lambda value: (
            isinstance(value, (list, tuple)) and (longest is None or len(value) <= longest),
            value,
        )
    model = spec.model
    assert model is not None
    return lambda value: (isinstance(value, (dict, model)), value)


def _literal_checker(literals: tuple[Any, ...]) -> Callable[[Any], tuple[bool, Any]]:
    """Exact type and value; any str (a str Enum member too) matches a str literal, as Pydantic."""

    def check_literal(value: Any) -> tuple[bool, Any]:
        if isinstance(value, str) and type(value) is not str:
            value = str.__str__(value)
        for literal in literals:
            if value.__class__ is literal.__class__ and value == literal:
                return True, literal
        return False, value

    return check_literal


def make_checker(spec: FieldSpec) -> Callable[[Any], tuple[bool, Any]]:
    """A checker specialised to ``spec``: ``value -> (ok, normalised)``; ints become floats."""
    if spec.kind in {"int", "float"}:
        inner = _number_checker(spec)
    elif spec.kind == "str":
        inner = _str_checker(spec)
    else:
        inner = _other_checker(spec)
    nullable = spec.nullable

    def check(value: Any) -> tuple[bool, Any]:
        if value is None:
            return nullable, None
        return inner(value)

    return check


def _compile(path: str, annotation: Any, metadata: list[Any], info: FieldInfo | None) -> FieldSpec:
    nullable = False
    metadata = list(metadata)
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        nullable = len(members) < len(typing.get_args(annotation))
        (annotation,) = members
        origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        annotation, *extra = typing.get_args(annotation)
        for item in extra:
            metadata.extend(item.metadata if isinstance(item, FieldInfo) else [item])
        origin = typing.get_origin(annotation)
    required = info.is_required() if info is not None else True
    default = None if info is None or required else info.default
    common: dict[str, Any] = {
        "path": path,
        "nullable": nullable,
        "required": required,
        "default": default,
    }
    if origin is Literal:
        return FieldSpec(kind="literal", literals=typing.get_args(annotation), **common)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        children = _children(annotation, path)
        return FieldSpec(kind="model", model=annotation, children=children, **common)
    if origin is tuple:
        element = typing.get_args(annotation)[0]
        item_path = f"{path}[]"
        item = FieldSpec(
            path=item_path,
            kind="model",
            required=True,
            model=element,
            children=_children(element, item_path),
        )
        longest = _constraints(metadata).get("max_length")
        return FieldSpec(kind="list", item=item, max_length=longest, **common)
    kinds: dict[Any, Kind] = {bool: "bool", int: "int", float: "float", str: "str", dt.date: "date"}
    return FieldSpec(kind=kinds[annotation], **_constraints(metadata), **common)


_BOUND_TYPES = (
    (annotated_types.Ge, "ge"),
    (annotated_types.Gt, "gt"),
    (annotated_types.Le, "le"),
    (annotated_types.Lt, "lt"),
)


def _constraints(metadata: list[Any]) -> dict[str, Any]:
    """Bounds, minimum length and pattern from a field's constraint metadata."""
    bounds: list[_Bound] = [None, None, None, None]
    found: dict[str, Any] = {}
    for item in metadata:
        for index, (kind, attribute) in enumerate(_BOUND_TYPES):
            if isinstance(item, kind):
                bounds[index] = getattr(item, attribute)
        if isinstance(item, annotated_types.MinLen):
            found["min_length"] = item.min_length
        elif isinstance(item, annotated_types.MaxLen):
            found["max_length"] = item.max_length
        elif getattr(item, "pattern", None) is not None:
            found["pattern"] = re.compile(_anchor_end(item.pattern))
    found["bounds"] = tuple(bounds)
    return found


def _anchor_end(pattern: str) -> str:
    r"""Make a trailing ``$`` mean end of text, as in Pydantic (Python's allows a final newline)."""
    return (
        pattern[:-1] + r"\Z" if pattern.endswith("$") and not pattern.endswith(r"\$") else pattern
    )


def _children(model: type[BaseModel], prefix: str) -> dict[str, FieldSpec]:
    return {
        name: _compile(f"{prefix}.{name}" if prefix else name, info.annotation, info.metadata, info)
        for name, info in model.model_fields.items()
    }


ROOT = FieldSpec(
    path="",
    kind="model",
    required=True,
    model=StratloopConfig,
    children=_children(StratloopConfig, ""),
)
"""The whole configuration's spec; ``ROOT.children['generation']`` and so on."""


def lookup(path: str) -> FieldSpec | None:
    """The spec at a dotted ``path``, or ``None`` if there is no such field."""
    spec = ROOT
    for part in path.split("."):
        if spec.kind == "list" and spec.item is not None and part.isdigit():
            spec = spec.item
            continue
        child = spec.children.get(part)
        if child is None:
            return None
        spec = child
    return spec


def suggest(key: str, spec: FieldSpec) -> str:
    """A "did you mean" hint for an unknown ``key`` under ``spec``, or the list of known keys."""
    known = list(spec.children)
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    if close:
        where = f"{spec.path}.{close[0]}" if spec.path else close[0]
        return f"did you mean `{where}`?"
    return "known keys: " + ", ".join(known)
