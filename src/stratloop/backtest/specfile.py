"""Strategy specs as JSON or YAML files: the form users and the LLM write by hand."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from stratloop.errors import SpecError
from stratloop.spec import Strategy

__all__ = ["SPEC_SUFFIXES", "dump_strategy", "load_strategy", "strategy_from_data"]

SPEC_SUFFIXES = (".json", ".yaml", ".yml")


def load_strategy(path: str | Path) -> Strategy:
    """Read a strategy spec from a ``.json``, ``.yaml`` or ``.yml`` file.

    The file holds the spec itself, or an object with the spec under ``spec``
    (a run's ``champion.json``, a history line's ``candidate``).

    Args:
        path: the file.

    Raises:
        SpecError: unreadable file, bad JSON/YAML, or a spec that fails
            validation; the message names the file and every bad field.
    """
    file = Path(path)
    if file.suffix.lower() not in SPEC_SUFFIXES:
        raise SpecError(f"{file}: a spec file must end in {', '.join(SPEC_SUFFIXES)}")
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(f"{file}: cannot read the spec file: {exc.strerror}") from exc
    data = _parse(text, file)
    if isinstance(data, dict) and "spec" in data and "expression" not in data:
        data = data["spec"]
    return strategy_from_data(data, str(file))


def strategy_from_data(data: Any, where: str) -> Strategy:
    """Validate a spec given as plain data (a parsed file, or an expression with a rule).

    Args:
        data: the spec's mapping.
        where: what the message names (the file, ``the expression``).

    Raises:
        SpecError: naming every bad field with pydantic's short reason, never its URL.
    """
    try:
        return Strategy.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"`{'.'.join(str(p) for p in error['loc']) or '(top level)'}`: {error['msg']}"
            for error in exc.errors()
        )
        raise SpecError(f"{where}: invalid strategy spec: {problems}") from exc


def dump_strategy(strategy: Strategy, path: str | Path) -> None:
    """Write a spec as JSON or YAML, chosen by the file's suffix.

    Args:
        strategy: the spec.
        path: a ``.json``, ``.yaml`` or ``.yml`` file (overwritten).
    """
    file = Path(path)
    data = strategy.model_dump(mode="json")
    if file.suffix.lower() == ".json":
        file.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    elif file.suffix.lower() in SPEC_SUFFIXES:
        file.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    else:
        raise SpecError(f"{file}: a spec file must end in {', '.join(SPEC_SUFFIXES)}")


def _parse(text: str, file: Path) -> Any:
    try:
        if file.suffix.lower() == ".json":
            return json.loads(text)
        return yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise SpecError(f"{file}: not valid {file.suffix.lstrip('.').upper()}: {exc}") from exc
    except RecursionError as exc:
        raise SpecError(f"{file}: nested too deeply to be a strategy spec") from exc
