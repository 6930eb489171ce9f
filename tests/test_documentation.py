"""The documentation names every flag, configuration field, audit field and command."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer

from stratloop.audit import RECORD_FIELDS
from stratloop.cli import app
from stratloop.config.models import StratloopConfig
from stratloop.flags import FLAG_VARIABLES

ROOT = Path(__file__).resolve().parent.parent


def _read(*names: str) -> str:
    return "\n".join((ROOT / name).read_text(encoding="utf-8") for name in names)


def _config_fields() -> list[str]:
    """Every dotted configuration path, e.g. ``generation.innovation_rate``."""
    paths = ["version"]
    for section, info in StratloopConfig.model_fields.items():
        model = info.annotation
        if isinstance(model, type) and hasattr(model, "model_fields"):
            paths.extend(f"{section}.{field}" for field in model.model_fields)
    return paths


def _commands() -> list[str]:
    """Every ``stratloop`` command path, e.g. ``audit verify``."""
    group = typer.main.get_group(app)
    found = []
    for name, command in group.commands.items():
        sub = getattr(command, "commands", None)
        if sub:
            found.extend(f"{name} {child}" for child in sub)
        else:
            found.append(name)
    return found


class TestDocs:
    @pytest.mark.parametrize("variable", FLAG_VARIABLES)
    def test_every_flag_is_documented(self, variable):
        """docs/flags.md names each of the five flag variables."""
        assert f"`{variable}`" in _read("docs/flags.md")

    @pytest.mark.parametrize("path", _config_fields())
    def test_every_configuration_field_is_documented(self, path):
        """docs/configuration.md names each field by its section and name."""
        text = _read("docs/configuration.md")
        section, _, field = path.rpartition(".")
        assert f"`{path}`" in text or (f"`{field}`" in text and f"`{section}`" in text), path

    @pytest.mark.parametrize("field", sorted(RECORD_FIELDS))
    def test_every_audit_record_field_is_documented(self, field):
        """docs/audit.md names each top-level field of an audit record."""
        assert f"`{field}`" in _read("docs/audit.md")

    def test_the_command_list_is_not_empty(self):
        """The command walk finds the CLI's groups (so the next test cannot pass vacuously)."""
        assert {"run", "config validate", "audit verify"} <= set(_commands())

    @pytest.mark.parametrize("command", _commands())
    def test_every_command_is_documented(self, command):
        """Each ``stratloop`` command appears in the README or a docs page."""
        docs = _read("README.md", *(str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md")))
        assert f"stratloop {command}" in docs, command
