"""Turn Pydantic's validation errors into :class:`~stratloop.errors.ConfigIssue` values.

Both validation paths describe a bad field the same way: its dotted path, the
value as given and the "allowed" text of :mod:`stratloop.config._schema`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from stratloop.config._schema import MISSING, ROOT, FieldSpec, lookup, suggest
from stratloop.errors import ConfigIssue

__all__ = ["UNKNOWN_KEY", "issue_for", "issues_from_pydantic", "unknown_key_issue"]

UNKNOWN_KEY = "absent (it is not a known key)"


def unknown_key_issue(parent: FieldSpec, key: Any, value: Any) -> ConfigIssue:
    """The issue for a key that ``parent`` does not have, with a "did you mean"."""
    name = key if isinstance(key, str) else repr(key)
    path = f"{parent.path}.{name}" if parent.path else name
    return ConfigIssue(path, value, UNKNOWN_KEY, hint=suggest(str(key), parent))


def issue_for(spec: FieldSpec, value: Any) -> ConfigIssue:
    """The issue for a present or missing ``value`` that ``spec`` does not accept."""
    if value is MISSING:
        return ConfigIssue(spec.path, MISSING, f"{spec.allowed} (required)", hint="add the key")
    return ConfigIssue(spec.path, value, spec.allowed)


def issues_from_pydantic(error: ValidationError, data: Mapping[str, Any]) -> list[ConfigIssue]:
    """One issue per Pydantic error, in Pydantic's order.

    Args:
        error: what ``model_validate`` raised.
        data: the document that was validated (to find parents of unknown keys).
    """
    issues: list[ConfigIssue] = []
    for item in error.errors(include_url=False, include_context=False):
        loc = tuple(item["loc"])
        if item["type"] in {"extra_forbidden", "invalid_key"}:
            parent = lookup(".".join(str(p) for p in loc[:-1])) if len(loc) > 1 else ROOT
            assert parent is not None
            value = item["input"] if item["type"] == "extra_forbidden" else _get(data, loc)
            issues.append(unknown_key_issue(parent, loc[-1], value))
            continue
        spec = lookup(".".join(str(p) for p in loc)) if loc else ROOT
        assert spec is not None
        value = MISSING if item["type"] == "missing" else item["input"]
        issues.append(issue_for(spec, value))
    return issues


def _get(data: Mapping[str, Any], loc: tuple[Any, ...]) -> Any:
    node: Any = data
    for part in loc:
        node = node.get(part) if isinstance(node, Mapping) else None
    return node
