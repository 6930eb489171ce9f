"""Layers on top of the file: environment variables and the CLI overlay.

``STRATLOOP_<SECTION>__<FIELD>=value`` sets ``section.field`` (and
``STRATLOOP_SEARCH__ARCHIVE__ENABLED`` a subsection's ``search.archive.enabled``,
as ``--set search.archive.enabled=true`` does); the value is parsed as a YAML
scalar with the same safe reader as files (``50`` is a number, ``null`` is
null, ``yes`` stays a string). Only variables with a
double underscore after the prefix are overrides. A CLI overlay is a mapping
of dotted paths to values. An unknown section or field is an issue naming the
variable or option, with a "did you mean".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from stratloop.config._schema import ROOT, FieldSpec, suggest
from stratloop.config._yaml import YamlProblem, parse_scalar
from stratloop.errors import ConfigIssue

__all__ = ["ENV_PREFIX", "Layer", "apply_layer", "env_layer", "parse_assignment"]

ENV_PREFIX = "STRATLOOP_"


@dataclass(frozen=True, slots=True)
class Layer:
    """Values set on top of the file by one source.

    Args:
        name: the source, shown in error messages (``environment staging``, ``--set``).
        values: dotted path to value.
        origins: dotted path to the exact origin (an environment variable name), if finer.
    """

    name: str
    values: Mapping[str, Any]
    origins: Mapping[str, str] | None = None

    def origin(self, path: str) -> str:
        """Where the value at ``path`` came from."""
        return (self.origins or {}).get(path, self.name)


def env_layer(environ: Mapping[str, str]) -> tuple[Layer, list[ConfigIssue]]:
    """Collect ``STRATLOOP_<SECTION>__<FIELD>`` variables into a layer.

    Returns:
        The layer and the issues (unknown paths, unparsable values), each naming its variable.
    """
    values: dict[str, Any] = {}
    origins: dict[str, str] = {}
    issues: list[ConfigIssue] = []
    for variable in sorted(environ):
        if not variable.startswith(ENV_PREFIX) or "__" not in variable:
            continue
        path = ".".join(variable[len(ENV_PREFIX) :].lower().split("__"))
        problem = _path_issue(path, environ[variable], variable)
        if problem is not None:
            issues.append(problem)
            continue
        try:
            values[path] = parse_scalar(environ[variable])
        except YamlProblem as exc:
            issues.append(
                ConfigIssue(
                    path, environ[variable], "a YAML scalar", hint=exc.problem, source=variable
                )
            )
            continue
        origins[path] = variable
    return Layer("environment variables", values, origins), issues


def apply_layer(document: dict[str, Any], layer: Layer) -> list[ConfigIssue]:
    """Set every value of ``layer`` in ``document`` (in place); unknown paths become issues."""
    issues: list[ConfigIssue] = []
    for path, value in layer.values.items():
        problem = _path_issue(path, value, layer.origin(path))
        if problem is not None:
            issues.append(problem)
            continue
        *sections, field = path.split(".")
        target: Any = document
        for section in sections:
            inner = target.get(section)
            if inner is None:
                inner = target[section] = {}
            if not isinstance(inner, dict):
                break
            target = inner
        else:
            target[field] = value
    return issues


def parse_assignment(text: str) -> tuple[str, Any]:
    """Split a CLI ``section.field=value`` into the path and the YAML-scalar value.

    Raises:
        ValueError: no ``=`` or an unparsable value; the message says what to write.
    """
    path, sep, raw = text.partition("=")
    if not sep:
        msg = f"{text!r} is not section.field=value (e.g. generation.innovation_rate=20)"
        raise ValueError(msg)
    try:
        return path.strip(), parse_scalar(raw)
    except YamlProblem as exc:
        msg = f"{text!r}: the value is not a YAML scalar ({exc.problem})"
        raise ValueError(msg) from exc


def _path_issue(path: str, value: Any, origin: str) -> ConfigIssue | None:
    """Why ``path`` names no field; a subsection's field is ``section.sub.field``."""
    section, _, rest = path.partition(".")
    spec: FieldSpec | None = ROOT.children.get(section)
    if spec is None or spec.kind != "model":
        return ConfigIssue(
            path, value, "a path section.field", hint=suggest(section, _SECTIONS), source=origin
        )
    for field in rest.split("."):
        child = spec.children.get(field) if spec.kind == "model" else None
        if child is None:
            return ConfigIssue(
                path, value, f"a field of {spec.path}", hint=suggest(field, spec), source=origin
            )
        spec = child
    return None


_SECTIONS = FieldSpec(
    path="",
    kind="model",
    model=ROOT.model,
    children={k: v for k, v in ROOT.children.items() if v.kind == "model"},
)
