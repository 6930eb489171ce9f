"""Load a configuration: file < environment locations < ``STRATLOOP_`` variables < CLI.

Which validator runs is decided by the flags: Phase 2 on means the Pydantic
models, off means the Phase 1 dict validator (same verdicts, same result
type). Conflict checks run when Phase 1 enforcement is on; with it off the
legacy behaviour applies and conflicts are not checked. Every issue from
every layer is reported together in one :class:`ConfigValidationError`.
"""

from __future__ import annotations

import copy
import dataclasses
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from stratloop.config._issues import issues_from_pydantic
from stratloop.config._yaml import YamlProblem, load_yaml
from stratloop.config.conflicts import check_conflicts
from stratloop.config.defaults import default_document
from stratloop.config.dict_validator import validate_dict
from stratloop.config.legacy import convert_legacy, is_legacy
from stratloop.config.models import StratloopConfig
from stratloop.config.overrides import Layer, apply_layer, env_layer
from stratloop.errors import ConfigFileError, ConfigIssue, ConfigValidationError
from stratloop.flags import EnvFlagSource, Flags

__all__ = ["MAX_FILE_BYTES", "load_config", "read_document", "validate_config"]

MAX_FILE_BYTES = 1_000_000
"""Configuration files larger than this are refused before parsing."""


def read_document(path: Path) -> dict[str, Any]:
    """Read a configuration file into a mapping, safely.

    Raises:
        ConfigFileError: unreadable, too large, not UTF-8, not safe YAML, or empty.
        ConfigValidationError: the top level is not a mapping.
    """
    name = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigFileError(
            name, f"it cannot be read ({exc.strerror})", "check the path"
        ) from exc
    if len(raw) > MAX_FILE_BYTES:
        raise ConfigFileError(name, f"it is {len(raw)} bytes", f"keep it under {MAX_FILE_BYTES}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigFileError(
            name,
            f"it is not UTF-8 (byte {exc.start}: {raw[exc.start : exc.start + 1]!r})",
            "save it as UTF-8",
        ) from exc
    try:
        document = load_yaml(text.removeprefix("\ufeff"))
    except YamlProblem as exc:
        raise ConfigFileError(name, exc.problem, exc.fix) from exc
    if document is None:
        raise ConfigFileError(
            name,
            "it is empty",
            "write at least `version: 1` and a `generation:` section (see `stratloop init`)",
        )
    if not isinstance(document, dict):
        raise ConfigValidationError(
            [ConfigIssue("<top level>", document, "a mapping of sections", source=name)]
        )
    return document


def validate_config(
    data: Mapping[str, Any], *, flags: Flags | None = None, source: str = "<dict>"
) -> StratloopConfig:
    """Validate a configuration mapping (v1, or v0 through the legacy adapter).

    Args:
        data: the document.
        flags: decide the validator and whether conflicts are checked;
            ``None`` reads them from the process environment.
        source: where ``data`` came from, for messages.

    Raises:
        ConfigValidationError: every invalid, missing or unknown field.
        ConfigConflictError: contradicting fields (Phase 1 enforcement on).
    """
    active = EnvFlagSource().current() if flags is None else flags
    document = _normalise(data, source)
    config = _validate(document, active, source, ())
    if active.enforcement:
        check_conflicts(config)
    return config


def load_config(
    path: Path | None,
    *,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    flags: Flags | None = None,
    layers: Sequence[Layer] = (),
) -> StratloopConfig:
    """Load the effective configuration.

    Args:
        path: the YAML file; ``None`` starts from :func:`default_config`.
        environ: where ``STRATLOOP_<SECTION>__<FIELD>`` overrides and flags are
            read; ``None`` means the process environment.
        overrides: the CLI overlay, dotted path to value; applied last.
        flags: the flags to validate under; ``None`` reads them from ``environ``.
        layers: layers between the file and the environment variables (an
            environment's locations).

    Raises:
        ConfigFileError: the file cannot be used.
        ConfigValidationError: every problem of every layer, together.
        ConfigConflictError: contradicting fields (Phase 1 enforcement on).
    """
    active = EnvFlagSource(environ).current() if flags is None else flags
    source = str(path) if path is not None else "<defaults>"
    document = copy.deepcopy(
        _normalise(read_document(path) if path is not None else default_document(), source)
    )
    env = env_layer(os.environ if environ is None else environ)
    stack = [*layers, env[0], Layer("--set", dict(overrides or {}))]
    issues = list(env[1])
    for layer in stack:
        issues.extend(apply_layer(document, layer))
    config = _validate(document, active, source, stack, issues)
    if active.enforcement:
        check_conflicts(config)
    return config


def _normalise(data: Mapping[str, Any], source: str) -> dict[str, Any]:
    if not isinstance(data, Mapping):
        raise ConfigValidationError(
            [ConfigIssue("<top level>", data, "a mapping of sections", source=source)]
        )
    if is_legacy(data):
        return convert_legacy(data, source)
    return dict(data)


def _validate(
    document: dict[str, Any],
    flags: Flags,
    source: str,
    stack: Sequence[Layer],
    issues: list[ConfigIssue] | None = None,
) -> StratloopConfig:
    found = list(issues or [])
    config: StratloopConfig | None = None
    try:
        if flags.pydantic_validation:
            try:
                config = StratloopConfig.model_validate(document)
            except ValidationError as exc:
                raise ConfigValidationError(issues_from_pydantic(exc, document)) from None
        else:
            config = validate_dict(document)
    except ConfigValidationError as exc:
        found.extend(_attribute(issue, source, stack) for issue in exc.issues)
    if found or config is None:
        raise ConfigValidationError(found)
    return config


def _attribute(issue: ConfigIssue, source: str, stack: Sequence[Layer]) -> ConfigIssue:
    origin = source
    for layer in stack:
        if issue.field_path in layer.values:
            origin = layer.origin(issue.field_path)
    return dataclasses.replace(issue, source=issue.source or origin)
