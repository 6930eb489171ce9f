from __future__ import annotations

from pathlib import Path

import pytest

from stratloop.environments import load_environment
from stratloop.errors import ConfigFileError, EnvironmentNotFoundError
from stratloop.flags import Flags

_ROOT = Path(__file__).resolve().parents[2]


class TestEnvironments:
    @pytest.mark.parametrize("name", ["local", "staging", "production"])
    def test_shipped_environments_validate(self, name):
        """Every shipped environment names a config that validates with all phases on."""
        env = load_environment(name, root=_ROOT)
        config = env.load_config(flags=Flags(), environ={})
        assert config.audit.path == str(env.audit_path)
        assert config.loop.runs_dir == str(env.runs_dir)
        assert env.service_url.startswith("http://127.0.0.1")

    def test_production_audit_path(self):
        """Production writes the audit trail where the guide says."""
        env = load_environment("production", root=_ROOT)
        assert env.audit_path == Path("/var/log/learning_audit.jsonl")

    def test_unknown_lists_known(self):
        """An unknown name lists the known ones."""
        with pytest.raises(EnvironmentNotFoundError, match="local, production, staging"):
            load_environment("prod", root=_ROOT)

    def test_env_variables_beat_environment_locations(self):
        """STRATLOOP_ variables override the environment's locations."""
        env = load_environment("local", root=_ROOT)
        config = env.load_config(flags=Flags(), environ={"STRATLOOP_AUDIT__PATH": "x.jsonl"})
        assert config.audit.path == "x.jsonl"

    def test_bad_environment_file(self, tmp_path):
        """An environment file with an unknown key is a ConfigFileError."""
        (tmp_path / "environments").mkdir()
        (tmp_path / "environments" / "x.yaml").write_text("config: c.yaml\nbogus: 1\n")
        with pytest.raises(ConfigFileError, match="bogus"):
            load_environment("x", root=tmp_path)
