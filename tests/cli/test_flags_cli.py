from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from stratloop.cli import app

pytestmark = pytest.mark.flag_defaults
runner = CliRunner()


class TestFlagsCommand:
    def test_json_defaults(self):
        """With nothing set, every phase is on (effective phase 4)."""
        result = runner.invoke(app, ["flags", "--json"])
        assert result.exit_code == 0, result.output
        data = json.loads(result.output)
        assert data["effective_phase"] == 4
        assert data["phase2_enabled"] is True

    def test_table_shows_variables(self, monkeypatch):
        """The table lists every variable and the effective phase."""
        monkeypatch.setenv("PHASE4_AUDIT_TRAIL", "off")
        result = runner.invoke(app, ["flags"])
        assert result.exit_code == 0
        assert "PHASE4_AUDIT_TRAIL" in result.output
        assert "effective phase: 3" in result.output

    def test_bad_value_exits_1(self, monkeypatch):
        """A bad value exits 1 naming the variable."""
        monkeypatch.setenv("PHASE2_PYDANTIC_VALIDATION", "ture")
        result = runner.invoke(app, ["flags"])
        assert result.exit_code == 1
        assert "PHASE2_PYDANTIC_VALIDATION" in result.output

    def test_bad_combination_exits_1(self, monkeypatch):
        """PHASE3 without PHASE1 exits 1 saying so."""
        monkeypatch.setenv("PHASE1_CONFIG_ENFORCEMENT", "false")
        result = runner.invoke(app, ["flags", "--json"])
        assert result.exit_code == 1
        assert "requires PHASE1_CONFIG_ENFORCEMENT" in result.output

    def test_flags_file(self, tmp_path):
        """--flags-file reads a dotenv file, which names every flag."""
        path = tmp_path / "flags.env"
        path.write_text(
            "ENABLE_GENERATION_REFACTORING=false\nPHASE1_CONFIG_ENFORCEMENT=true\n"
            "PHASE2_PYDANTIC_VALIDATION=true\nPHASE3_STRATEGY_PATTERN=true\nPHASE4_AUDIT_TRAIL=true\n"
        )
        result = runner.invoke(app, ["flags", "--json", "--flags-file", str(path)])
        assert result.exit_code == 0
        assert json.loads(result.output)["effective_phase"] == 0
