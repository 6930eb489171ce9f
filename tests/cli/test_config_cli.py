from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from run_helpers import AUDIT_OFF
from stratloop.cli import app

_ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


class TestConfigValidate:
    def test_valid(self):
        """A valid file exits 0 and says which validator ran."""
        result = runner.invoke(app, ["config", "validate", str(_ROOT / "configs/staging.yaml")])
        assert result.exit_code == 0, result.output
        assert "valid" in result.output

    def test_invalid_lists_every_error(self, tmp_path):
        """An invalid file exits 1 listing each field path, value and what is allowed."""
        path = tmp_path / "c.yaml"
        path.write_text(
            "version: 1\ngeneration:\n  use_factor_graph: 1\n  innovation_rate: -3\n  extra: 1\n"
        )
        result = runner.invoke(app, ["config", "validate", str(path)])
        assert result.exit_code == 1
        for text in (
            "generation.use_factor_graph",
            "generation.innovation_rate",
            "-3",
            "allowed",
            "generation.extra",
        ):
            assert text in result.output
        assert "Traceback" not in result.output

    @pytest.mark.flag_defaults
    def test_conflict_exits_1(self, tmp_path):
        """A conflict exits 1 and names it."""
        path = tmp_path / "c.yaml"
        path.write_text(
            "version: 1\ngeneration:\n  use_factor_graph: true\n  innovation_rate: 100\n"
        )
        result = runner.invoke(app, ["config", "validate", str(path)])
        assert result.exit_code == 1
        assert "factor_graph_with_full_innovation" in result.output

    def test_phase0_notes_conflicts_not_applied(self, tmp_path, monkeypatch):
        """With enforcement off, validate says conflicts were not checked."""
        monkeypatch.setenv("PHASE1_CONFIG_ENFORCEMENT", "false")
        monkeypatch.setenv("PHASE3_STRATEGY_PATTERN", "false")
        path = tmp_path / "c.yaml"
        path.write_text(
            "version: 1\ngeneration:\n  use_factor_graph: true\n  innovation_rate: 100\n"
        )
        result = runner.invoke(app, ["config", "validate", str(path)])
        assert result.exit_code == 0
        assert "conflict checks were not applied" in result.output

    @pytest.mark.parametrize("content", [None, b"\xff\xfe", b"a: !!python/object:os.system x\n"])
    def test_unusable_file_exits_2(self, tmp_path, content):
        """Missing, non-UTF-8 and tagged files exit 2 without a traceback."""
        path = tmp_path / "c.yaml"
        if content is not None:
            path.write_bytes(content)
        result = runner.invoke(app, ["config", "validate", str(path)])
        assert result.exit_code == 2
        assert "Traceback" not in result.output


class TestConfigShow:
    def test_json_is_redacted_snapshot(self, monkeypatch):
        """The --json view prints the effective config and its hash; the key value never appears."""
        monkeypatch.setenv("OPENAI_API_KEY", "sk-very-secret")
        monkeypatch.chdir(_ROOT)
        result = runner.invoke(app, ["config", "show", "--json", "--environment", "production"])
        assert result.exit_code == 0, result.output
        data = json.loads(result.output)
        assert data["config"]["audit"]["path"] == "/var/log/learning_audit.jsonl"
        assert "sk-very-secret" not in result.output

    def test_unknown_environment_exits_2(self, monkeypatch):
        """An unknown environment exits 2 listing the known ones."""
        monkeypatch.chdir(_ROOT)
        result = runner.invoke(app, ["config", "show", "--environment", "nope"])
        assert result.exit_code == 2
        assert "local" in result.output


class TestInit:
    def test_starter_validates_and_refuses_overwrite(self, tmp_path):
        """The init command writes a valid config and will not overwrite without --force."""
        path = tmp_path / "s.yaml"
        assert runner.invoke(app, ["init", str(path)]).exit_code == 0
        assert runner.invoke(app, ["config", "validate", str(path)]).exit_code == 0
        assert runner.invoke(app, ["init", str(path)]).exit_code == 2
        assert runner.invoke(app, ["init", str(path), "--force"]).exit_code == 0


class TestGuideScripts:
    @pytest.mark.slow
    def test_phase2_scripts_exit_0_as_written(self, tmp_path):
        """The guide's Phase 2 commands run from the repo root and exit 0."""
        env = {**AUDIT_OFF, "PHASE3_STRATEGY_PATTERN": "false", "PATH": ""}
        output = tmp_path / "phase2_overhead.json"
        commands = [
            [
                "scripts/test_pydantic_validation.py",
                "--test-case",
                "valid_configs",
                "--environment",
                "staging",
            ],
            [
                "scripts/test_pydantic_validation.py",
                "--test-case",
                "invalid_configs",
                "--environment",
                "staging",
            ],
            ["scripts/test_backward_compatibility.py", "--environment", "staging"],
            ["scripts/test_validation_edge_cases.py", "--environment", "staging"],
            [
                "scripts/measure_validation_overhead.py",
                "--iterations",
                "200",
                "--environment",
                "staging",
                "--output",
                str(output),
            ],
        ]
        for command in commands:
            done = subprocess.run(
                [sys.executable, *command],
                cwd=_ROOT,
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            assert done.returncode == 0, done.stdout + done.stderr
        report = json.loads(output.read_text())
        assert report["budget_us"] == 1000
        assert {"p50_us", "p95_us", "p99_us", "max_us"} <= set(report["paths"]["pydantic"])
