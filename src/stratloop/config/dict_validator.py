"""The Phase 1 dict validator, used when ``PHASE2_PYDANTIC_VALIDATION`` is off.

It checks a plain mapping against the schema compiled from the models
(:mod:`stratloop.config._schema`) without running Pydantic's validators, then
builds the same :class:`~stratloop.config.models.StratloopConfig`. Its
verdict (accept or reject) is the same as the Pydantic path's on every input;
the test suite proves it on a shared case list and with Hypothesis. Every
problem is collected, not just the first.

A valid document takes the accept path (:mod:`stratloop.config._accept`):
checks specialised per field and the frozen models built directly.
Anything that path does not take as it is goes through the full check below,
which decides the verdict and lists every issue. A plan per section is compiled
once (field name, checker, default). Both paths build the models the way
``BaseModel.model_construct`` does (instance ``__dict__`` plus the fields-set,
extra and private slots), without its per-call default lookups; the tests
check the result equals the Pydantic path's, field for field.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel

from stratloop.config._accept import Reject, compile_section
from stratloop.config._issues import issue_for, unknown_key_issue
from stratloop.config._schema import MISSING, ROOT, FieldSpec, make_checker
from stratloop.config.models import StratloopConfig
from stratloop.errors import ConfigIssue, ConfigValidationError

__all__ = ["validate_dict"]

_Check = Callable[[Any, list[ConfigIssue]], Any]
_Scalar = Callable[[Any], tuple[bool, Any]]


def validate_dict(data: Mapping[str, Any]) -> StratloopConfig:
    """Validate a v1 configuration mapping without Pydantic's validators.

    Args:
        data: the whole document (``version``, ``generation``, ...).

    Raises:
        ConfigValidationError: listing every invalid, missing or unknown field.
    """
    document = data if type(data) is dict else None
    if document is None:
        if not isinstance(data, Mapping):
            raise ConfigValidationError([issue_for(ROOT, data)])
        document = dict(data)
    try:
        return _ROOT_ACCEPT(document)  # type: ignore[no-any-return]
    except Reject:
        pass
    issues: list[ConfigIssue] = []
    built = _ROOT_CHECK(document, issues)
    if issues:
        raise ConfigValidationError(issues)
    assert isinstance(built, StratloopConfig)
    return built


def _compile_section(spec: FieldSpec) -> _Check:
    model = spec.model
    assert model is not None
    scalars, sections = _plan(spec)
    defaults = {name: child.default for name, child in spec.children.items() if not child.required}
    required = frozenset(name for name, child in spec.children.items() if child.required)

    def check(data: Any, issues: list[ConfigIssue]) -> Any:
        if isinstance(data, model):
            return data
        if not isinstance(data, dict):
            issues.append(issue_for(spec, data))
            return None
        before = len(issues)
        values = dict(defaults)
        for key, value in data.items():
            scalar = scalars.get(key)
            if scalar is not None:
                ok, values[key] = scalar[0](value)
                if not ok:
                    issues.append(issue_for(scalar[1], value))
            else:
                values[key] = _nested(spec, sections, key, value, issues)
        if not required.issubset(data):
            issues.extend(issue_for(spec.children[n], MISSING) for n in required if n not in data)
        if len(issues) > before:
            return None
        return _build(model, {name: values[name] for name in spec.children}, set(data))

    return check


def _plan(
    spec: FieldSpec,
) -> tuple[dict[str, tuple[_Scalar, FieldSpec]], dict[str, tuple[_Check, FieldSpec]]]:
    """Split a section's fields into compiled scalar checkers and nested section checkers."""
    scalars: dict[str, tuple[_Scalar, FieldSpec]] = {}
    sections: dict[str, tuple[_Check, FieldSpec]] = {}
    for name, child in spec.children.items():
        if child.kind == "model":
            sections[name] = (_compile_section(child), child)
        elif child.kind == "list":
            sections[name] = (_compile_list(child), child)
        else:
            scalars[name] = (make_checker(child), child)
    return scalars, sections


def _compile_list(spec: FieldSpec) -> _Check:
    """A list of sections (``llm.models``): the list's own check, then each element's."""
    assert spec.item is not None
    element = _compile_section(spec.item)
    shallow = make_checker(spec)

    def check(data: Any, issues: list[ConfigIssue]) -> Any:
        ok, _ = shallow(data)
        if not ok:
            issues.append(issue_for(spec, data))
            return None
        before = len(issues)
        built = tuple(element(item, issues) for item in data)
        return None if len(issues) > before else built

    return check


def _nested(
    spec: FieldSpec,
    sections: dict[str, tuple[_Check, FieldSpec]],
    key: Any,
    value: Any,
    issues: list[ConfigIssue],
) -> Any:
    """Check a value that is not a scalar field: a section, or an unknown key."""
    if key not in sections:
        issues.append(unknown_key_issue(spec, key, value))
        return None
    section, child = sections[key]
    if value is None:
        issues.append(issue_for(child, value))
        return None
    return section(value, issues)


def _build(model: type[BaseModel], values: dict[str, Any], fields_set: set[str]) -> BaseModel:
    """Build a validated model instance as ``model_construct`` does, with every value given."""
    instance = model.__new__(model)
    object.__setattr__(instance, "__dict__", values)
    object.__setattr__(instance, "__pydantic_fields_set__", fields_set)
    object.__setattr__(instance, "__pydantic_extra__", None)
    object.__setattr__(instance, "__pydantic_private__", None)
    return instance


_ROOT_CHECK = _compile_section(ROOT)
_ROOT_ACCEPT = compile_section(ROOT)
