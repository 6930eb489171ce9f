"""The user's own factor templates, from a YAML file (no Python needed).

Format::

    version: 1
    factors:
      quality_trend:
        expression: "ts_mean(returns, {n}) / ts_std(returns, {n})"
        description: "Sharpe-like trend"
        params:
          n: {low: 20, high: 252, default: 60}

Every template is parsed and type-checked at its defaults and at both ends of
its ranges when the file is loaded; any problem is a startup error naming the
template and the file.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from stratloop.errors import FactorTemplateError
from stratloop.factors._suggest import did_you_mean
from stratloop.factors.library import FactorTemplate, ParamRange

__all__ = ["load_user_factors"]

_TEMPLATE_KEYS = ("expression", "description", "params")
_PARAM_KEYS = ("low", "high", "default")


class _UniqueKeyLoader(yaml.SafeLoader):
    """Safe YAML that rejects a key given twice in one mapping."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node)


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_mapping,
)


def _unknown_keys(found: Mapping[str, Any], allowed: tuple[str, ...]) -> str | None:
    for key in found:
        if key not in allowed:
            hint = did_you_mean(str(key), allowed) or f"allowed: {', '.join(allowed)}"
            return f"unknown key {key!r}; {hint}"
    return None


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _param(name: str, source: str, key: str, spec: Any) -> ParamRange:
    if not isinstance(spec, Mapping):
        raise FactorTemplateError(
            name, source, f"params.{key} must be a mapping with low, high, default but got {spec!r}"
        )
    problem = _unknown_keys(spec, _PARAM_KEYS)
    if problem:
        raise FactorTemplateError(name, source, f"params.{key}: {problem}")
    low, high = spec.get("low"), spec.get("high")
    if not (_integer(low) and _integer(high)):
        raise FactorTemplateError(
            name, source, f"params.{key} needs integer low and high but got {low!r}, {high!r}"
        )
    low, high = int(low), int(high)  # type: ignore[arg-type]
    default = spec.get("default", (low + high) // 2)
    if not _integer(default) or not low <= default <= high:
        raise FactorTemplateError(
            name, source, f"params.{key}: need integers low <= default <= high, got "
            f"{low!r}, {default!r}, {high!r}",
        )
    return ParamRange(low, high, default)


def _template(name: Any, body: Any, source: str) -> FactorTemplate:
    if not isinstance(name, str):
        raise FactorTemplateError(str(name), source, "a factor name must be a string")
    if not isinstance(body, Mapping):
        raise FactorTemplateError(name, source, f"must be a mapping with an expression: {body!r}")
    problem = _unknown_keys(body, _TEMPLATE_KEYS)
    if problem:
        raise FactorTemplateError(name, source, problem)
    expression = body.get("expression")
    if not isinstance(expression, str) or not expression.strip():
        raise FactorTemplateError(name, source, "needs an 'expression' string")
    description = body.get("description", "")
    if not isinstance(description, str):
        raise FactorTemplateError(name, source, "'description' must be a string")
    params = body.get("params") or {}
    if not isinstance(params, Mapping):
        raise FactorTemplateError(name, source, f"'params' must be a mapping but got {params!r}")
    ranges = {str(key): _param(name, source, str(key), spec) for key, spec in params.items()}
    return FactorTemplate(name, expression, ranges, description, source=source)


def load_user_factors(path: Path) -> tuple[FactorTemplate, ...]:
    """Read and validate the user's factor templates.

    Args:
        path: the YAML file named by ``generation.user_factors``.

    Raises:
        FactorTemplateError: the file is missing or malformed, or a template is
            invalid; the message names the template (or ``*`` for the file).
    """
    source = str(path)
    try:
        document = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)  # noqa: S506
    except OSError as error:
        raise FactorTemplateError("*", source, f"cannot read the file: {error.strerror}") from error
    except yaml.YAMLError as error:
        raise FactorTemplateError("*", source, f"not valid YAML: {error}") from error
    if not isinstance(document, Mapping):
        raise FactorTemplateError("*", source, "the file must map version and factors")
    problem = _unknown_keys(document, ("version", "factors"))
    if problem:
        raise FactorTemplateError("*", source, problem)
    if document.get("version") != 1:
        raise FactorTemplateError(
            "*", source, f"'version' must be 1 but got {document.get('version')!r}"
        )
    factors = document.get("factors")
    if not isinstance(factors, Mapping) or not factors:
        raise FactorTemplateError("*", source, "'factors' must map names to templates")
    return tuple(_template(name, body, source) for name, body in factors.items())
