from __future__ import annotations

import time

import pytest

from stratloop.config import default_config, load_config, read_document, validate_config
from stratloop.errors import (
    ConfigConflictError,
    ConfigFileError,
    ConfigValidationError,
)
from stratloop.flags import Flags

PHASE0 = Flags(master=False)
PHASE1 = Flags(phase2=False, phase3=False, phase4=False)

_VALID = "version: 1\ngeneration:\n  use_factor_graph: true\n  innovation_rate: 0\n"


def _write(tmp_path, text, name="c.yaml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


class TestReadDocument:
    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("a: !!python/object/apply:os.system ['touch /tmp/pwned']\n", "explicit tag"),
            ("version: 1\nversion: 1\n", "duplicate key 'version' at lines 1 and 2"),
            ("", "it is empty"),
            ("# nothing\n", "it is empty"),
            ("a: [\n", "not valid YAML"),
            ("a: &a [1]\nb: *b\n", "not valid YAML"),
            ("a: " + "[" * 600 + "]" * 600 + "\n", "nesting deeper than 64 levels"),
            ("a:\n" + "".join(f"{'  ' * i}k{i}:\n" for i in range(1, 80)), "nesting deeper"),
        ],
    )
    def test_hostile_and_broken_files(self, tmp_path, text, message):
        """Tags, duplicates, empty files and syntax errors are ConfigFileErrors."""
        with pytest.raises(ConfigFileError, match=message):
            read_document(_write(tmp_path, text))

    def test_alias_bomb_is_refused_fast(self, tmp_path):
        """A billion-laughs document is refused in well under a second."""
        lines = ["a: &a [1,1,1,1,1,1,1,1,1,1]"]
        for i in range(1, 9):
            prev, cur = chr(ord("a") + i - 1), chr(ord("a") + i)
            lines.append(f"{cur}: &{cur} [" + ",".join([f"*{prev}"] * 10) + "]")
        start = time.perf_counter()
        with pytest.raises(ConfigFileError, match="expands to more than"):
            read_document(_write(tmp_path, "\n".join(lines) + "\n"))
        assert time.perf_counter() - start < 1.0

    def test_non_utf8(self, tmp_path):
        """Non-UTF-8 bytes are an error naming the byte offset."""
        path = tmp_path / "c.yaml"
        path.write_bytes(b"version: 1\nname: caf\xe9\n")
        with pytest.raises(ConfigFileError, match="not UTF-8"):
            read_document(path)

    def test_list_top_level(self, tmp_path):
        """A list at the top level is a validation error."""
        with pytest.raises(ConfigValidationError, match="a mapping of sections"):
            read_document(_write(tmp_path, "- 1\n- 2\n"))

    def test_yaml_11_booleans_stay_strings(self, tmp_path):
        """`yes` is not a boolean (YAML 1.2 core): use_factor_graph: yes is rejected."""
        path = _write(tmp_path, _VALID.replace("true", "yes"))
        with pytest.raises(ConfigValidationError, match="got `'yes'`"):
            load_config(path, environ={})


class TestLoadConfig:
    def test_none_is_the_default(self):
        """No path gives the built-in default: factor graph only, LLM off."""
        config = load_config(None, environ={})
        assert config == default_config()
        assert config.generation.use_factor_graph is True
        assert config.llm.enabled is False

    def test_layer_order(self, tmp_path):
        """File < STRATLOOP_ variables < CLI overlay."""
        path = _write(tmp_path, _VALID + "loop:\n  seed: 1\n  iterations: 5\n")
        environ = {"STRATLOOP_LOOP__SEED": "2", "STRATLOOP_LOOP__WORKERS": "3"}
        config = load_config(path, environ=environ, overrides={"loop.workers": 4})
        assert (config.loop.seed, config.loop.workers, config.loop.iterations) == (2, 4, 5)

    def test_env_values_are_yaml_scalars(self):
        """`null` is null and `20` a number in an override."""
        environ = {
            "STRATLOOP_GENERATION__USE_FACTOR_GRAPH": "null",
            "STRATLOOP_GENERATION__INNOVATION_RATE": "20",
            "STRATLOOP_LLM__ENABLED": "true",
            "STRATLOOP_LLM__BASE_URL": "http://127.0.0.1:1/v1",
            "STRATLOOP_LLM__MODEL": "m",
        }
        config = load_config(None, environ=environ)
        assert config.generation.use_factor_graph is None
        assert config.generation.innovation_rate == 20.0

    def test_unknown_override_names_variable_with_did_you_mean(self):
        """A misspelt override variable is an error naming it, with a suggestion."""
        with pytest.raises(ConfigValidationError) as info:
            load_config(
                None, environ={"STRATLOOP_LOOP__ITERATONS": "5", "STRATLOOP_LOPP__SEED": "1"}
            )
        text = str(info.value)
        assert "STRATLOOP_LOOP__ITERATONS" in text
        assert "did you mean `loop.iterations`" in text
        assert "did you mean `loop`" in text

    def test_bad_override_value_is_attributed_to_variable(self):
        """A wrong value from a variable names the variable as its source."""
        with pytest.raises(ConfigValidationError, match="from STRATLOOP_LOOP__SEED"):
            load_config(None, environ={"STRATLOOP_LOOP__SEED": "abc"})

    def test_all_errors_listed(self, tmp_path):
        """File errors and override errors are reported together."""
        path = _write(tmp_path, "version: 1\ngeneration:\n  innovation_rate: 500\n")
        with pytest.raises(ConfigValidationError) as info:
            load_config(path, environ={"STRATLOOP_X__Y": "1"})
        assert len(info.value.issues) == 3

    def test_conflicts_only_with_enforcement(self):
        """Conflicts are errors with Phase 1 on, and not checked in Phase 0."""
        data = {"version": 1, "generation": {"use_factor_graph": True, "innovation_rate": 100}}
        with pytest.raises(ConfigConflictError):
            validate_config(data, flags=Flags())
        with pytest.raises(ConfigConflictError):
            validate_config(data, flags=PHASE1)
        assert validate_config(data, flags=PHASE0).generation.innovation_rate == 100

    def test_flags_default_from_environment(self, monkeypatch):
        """Without flags, the process's flag variables decide (master off: no conflicts)."""
        data = {"version": 1, "generation": {"use_factor_graph": True, "innovation_rate": 100}}
        monkeypatch.setenv("ENABLE_GENERATION_REFACTORING", "false")
        assert validate_config(data).generation.use_factor_graph is True
