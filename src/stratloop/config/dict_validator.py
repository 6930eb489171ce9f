"""The Phase 1 dict validator, used when ``PHASE2_PYDANTIC_VALIDATION`` is off.

It checks a plain mapping against the schema compiled from the models
(:mod:`stratloop.config._schema`) without running Pydantic's validators, then
builds the same :class:`~stratloop.config.models.StratloopConfig` with
``model_construct``. Its verdict (accept or reject) is the same as the Pydantic
path's on every input; the test suite proves it on a shared case list and with
Hypothesis. Every problem is collected, not just the first.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from stratloop.config._issues import issue_for, unknown_key_issue
from stratloop.config._schema import MISSING, ROOT, FieldSpec
from stratloop.config.models import StratloopConfig
from stratloop.errors import ConfigIssue, ConfigValidationError

__all__ = ["validate_dict"]


def validate_dict(data: Mapping[str, Any]) -> StratloopConfig:
    """Validate a v1 configuration mapping without Pydantic's validators.

    Args:
        data: the whole document (``version``, ``generation``, ...).

    Raises:
        ConfigValidationError: listing every invalid, missing or unknown field.
    """
    issues: list[ConfigIssue] = []
    if not isinstance(data, Mapping):
        raise ConfigValidationError([issue_for(ROOT, data)])
    built = _section(ROOT, dict(data), issues)
    if issues:
        raise ConfigValidationError(issues)
    assert isinstance(built, StratloopConfig)
    return built


def _section(spec: FieldSpec, data: Any, issues: list[ConfigIssue]) -> BaseModel | None:
    assert spec.model is not None
    if isinstance(data, spec.model):
        return data
    if not isinstance(data, dict):
        issues.append(issue_for(spec, data))
        return None
    before = len(issues)
    issues.extend(unknown_key_issue(spec, k, v) for k, v in data.items() if k not in spec.children)
    values: dict[str, Any] = {}
    for name, child in spec.children.items():
        value = data.get(name, MISSING)
        if value is not MISSING:
            values[name] = _field(child, value, issues)
        elif child.required:
            issues.append(issue_for(child, MISSING))
        elif child.kind == "model":
            values[name] = child.default
    if len(issues) > before:
        return None
    return spec.model.model_construct(**values)


def _field(spec: FieldSpec, value: Any, issues: list[ConfigIssue]) -> Any:
    if spec.kind == "model" and value is not None:
        return _section(spec, value, issues)
    ok, normalised = spec.check(value)
    if not ok:
        issues.append(issue_for(spec, value))
    return normalised
