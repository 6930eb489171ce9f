from __future__ import annotations

import pytest

from stratloop.config import StratloopDeprecationWarning, validate_config
from stratloop.config.legacy import is_legacy
from stratloop.errors import ConfigValidationError
from stratloop.flags import Flags

_LLM = {"enabled": True, "base_url": "http://127.0.0.1:1/v1", "model": "m"}


class TestLegacyAdapter:
    def test_selected_by_layout_only(self):
        """v0 is top-level use_factor_graph, or neither version nor generation."""
        assert is_legacy({"use_factor_graph": True})
        assert is_legacy({"llm": {}})
        assert not is_legacy({"version": 1, "generation": {}})
        assert not is_legacy({"generation": {}})

    def test_fraction_becomes_percent_and_warns_once(self):
        """llm.innovation_rate 0.25 becomes 25% with exactly one deprecation warning."""
        data = {"use_factor_graph": None, "llm": {**_LLM, "innovation_rate": 0.25}}
        with pytest.warns(StratloopDeprecationWarning) as record:
            config = validate_config(data, flags=Flags())
        assert len(record) == 1
        assert config.generation.innovation_rate == 25.0
        assert config.generation.use_factor_graph is None

    def test_percent_in_v0_is_not_guessed(self):
        """A v0 rate of 20 is rejected, never reinterpreted as 20%."""
        with pytest.raises(ConfigValidationError, match="a fraction from 0 to 1"):
            validate_config({"use_factor_graph": None, "llm": {"innovation_rate": 20}})

    def test_v1_without_version_is_not_legacy(self):
        """A v1 document missing `version` is told to add it."""
        with pytest.raises(ConfigValidationError, match="`version`"):
            validate_config({"generation": {"use_factor_graph": True, "innovation_rate": 0}})
