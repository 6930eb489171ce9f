"""The deployment guide's Phase 2 cases for the configuration models.

Run by the guide as ``pytest tests/learning/test_config_models.py -v`` with
Phases 1-2 on; the cases hold with every flag default too.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from stratloop.config import (
    GenerationConfig,
    StratloopConfig,
    StratloopDeprecationWarning,
    validate_config,
)
from stratloop.errors import ConfigValidationError
from stratloop.flags import EnvFlagSource, Flags

_LLM = {"enabled": True, "base_url": "http://127.0.0.1:11434/v1", "model": "m"}
_PHASE2 = Flags()
_PHASE1 = Flags(phase2=False, phase3=False, phase4=False)


def _doc(use_factor_graph, rate, **extra):
    return {
        "version": 1,
        "generation": {"use_factor_graph": use_factor_graph, "innovation_rate": rate, **extra},
        "llm": _LLM,
    }


@pytest.fixture(params=[_PHASE2, _PHASE1], ids=["pydantic", "dict"])
def flags(request):
    return request.param


class TestValidConfigs:
    @pytest.mark.parametrize("rate", [0, 50, 100, 0.0, 12.5, 100.0])
    def test_rates_accepted(self, flags, rate):
        """innovation_rate 0, 50 and 100 (ints or floats) are accepted and stored as floats."""
        config = validate_config(_doc(None, rate), flags=flags)
        assert config.generation.innovation_rate == float(rate)
        assert isinstance(config.generation.innovation_rate, float)

    @pytest.mark.parametrize("use_factor_graph", [True, False, None])
    def test_use_factor_graph_values(self, flags, use_factor_graph):
        """use_factor_graph True, False and None are all valid."""
        config = validate_config(_doc(use_factor_graph, 0), flags=flags)
        assert config.generation.use_factor_graph is use_factor_graph

    def test_round_trip(self):
        """The model serialises to dict and JSON and back unchanged."""
        config = validate_config(_doc(None, 20), flags=_PHASE2)
        assert StratloopConfig.model_validate(config.model_dump()) == config
        assert StratloopConfig.model_validate_json(config.model_dump_json(), strict=False) == config


class TestInvalidConfigs:
    @pytest.mark.parametrize(
        ("rate", "shown"), [(-10, "-10"), (150, "150"), ("invalid", "'invalid'"), ("50", "'50'")]
    )
    def test_bad_rates_name_field_and_value(self, flags, rate, shown):
        """Out-of-range and wrongly typed rates are rejected naming the field and value."""
        with pytest.raises(ConfigValidationError) as info:
            validate_config(_doc(None, rate), flags=flags)
        (issue,) = info.value.issues
        assert issue.field_path == "generation.innovation_rate"
        assert shown in str(issue)
        assert "0 to 100" in issue.allowed

    @pytest.mark.parametrize("value", ["true", 1, "yes"])
    def test_use_factor_graph_must_be_bool_or_null(self, flags, value):
        """use_factor_graph "true" (a string) or 1 is not a boolean."""
        with pytest.raises(ConfigValidationError, match=r"generation\.use_factor_graph"):
            validate_config(_doc(value, 0), flags=flags)

    @pytest.mark.parametrize("missing", ["use_factor_graph", "innovation_rate"])
    def test_missing_required_fields(self, flags, missing):
        """Both generation fields are required (null must be written)."""
        data = _doc(None, 0)
        del data["generation"][missing]
        with pytest.raises(ConfigValidationError, match=rf"generation\.{missing}.*required"):
            validate_config(data, flags=flags)

    @pytest.mark.parametrize("rate", [math.nan, math.inf, -math.inf, True])
    def test_nan_infinity_and_bool(self, flags, rate):
        """NaN, infinities and booleans are not rates."""
        with pytest.raises(ConfigValidationError):
            validate_config(_doc(None, rate), flags=flags)


class TestEdgeCases:
    @pytest.mark.parametrize(
        ("rate", "ok"), [(0, True), (100, True), (-1e-9, False), (100 + 1e-9, False)]
    )
    def test_boundaries(self, flags, rate, ok):
        """0 and 100 are in; anything beyond is out."""
        if ok:
            validate_config(_doc(None, rate), flags=flags)
        else:
            with pytest.raises(ConfigValidationError):
                validate_config(_doc(None, rate), flags=flags)

    def test_optional_fields_accept_none(self, flags):
        """Optional fields accept None."""
        data = _doc(None, 10, user_factors=None)
        data["llm"] = {**_LLM, "max_tokens_per_run": None, "cost_per_1k_tokens": None}
        data["data"] = {"start_date": None, "end_date": None}
        assert validate_config(data, flags=flags).llm.max_tokens_per_run is None

    def test_extra_fields_rejected_with_suggestion(self, flags):
        """An extra field is an error with a did-you-mean, never ignored."""
        with pytest.raises(
            ConfigValidationError, match=r"did you mean `generation\.innovation_rate`"
        ):
            validate_config(_doc(None, 10, inovation_rate=5), flags=flags)

    def test_int_field_rejects_float(self, flags):
        """An integer field does not take 10.0: coercion is never silent."""
        data = _doc(True, 0)
        data["loop"] = {"iterations": 10.0}
        with pytest.raises(ConfigValidationError, match=r"loop\.iterations"):
            validate_config(data, flags=flags)


class TestBackwardCompatibility:
    def test_legacy_dict_converts(self):
        """A v0 dict converts (fraction to percent) with one deprecation warning."""
        with pytest.warns(StratloopDeprecationWarning):
            config = validate_config(
                {"use_factor_graph": None, "llm": {**_LLM, "innovation_rate": 0.3}}
            )
        assert config.generation.innovation_rate == pytest.approx(30.0)

    def test_mixed_dict_and_model(self, flags):
        """A dict holding a model section is accepted on both paths."""
        section = GenerationConfig(use_factor_graph=None, innovation_rate=5)
        data = {"version": 1, "generation": section, "llm": _LLM}
        assert validate_config(data, flags=flags).generation == section

    def test_models_are_frozen(self):
        """Models cannot be changed after validation."""
        config = validate_config(_doc(True, 0), flags=_PHASE2)
        with pytest.raises(ValidationError):
            config.generation.innovation_rate = 5  # type: ignore[misc]

    def test_guide_flag_exports(self, monkeypatch):
        """With the guide's Phase 2 exports the effective phase is 2 and validation is typed."""
        for name, value in {
            "ENABLE_GENERATION_REFACTORING": "true",
            "PHASE1_CONFIG_ENFORCEMENT": "true",
            "PHASE2_PYDANTIC_VALIDATION": "true",
            "PHASE3_STRATEGY_PATTERN": "false",
            "PHASE4_AUDIT_TRAIL": "false",
        }.items():
            monkeypatch.setenv(name, value)
        current = EnvFlagSource().current()
        assert current.effective_phase == 2
        assert current.pydantic_validation
        assert validate_config(_doc(None, 50)).generation.innovation_rate == 50.0


class TestProperties:
    @given(st.floats(min_value=0, max_value=100) | st.integers(min_value=0, max_value=100))
    def test_every_rate_in_range_is_kept_exactly(self, rate):
        """Any number in [0, 100] is accepted and kept as that float on both paths."""
        for flags in (_PHASE2, _PHASE1):
            assert validate_config(
                _doc(None, rate), flags=flags
            ).generation.innovation_rate == float(rate)

    @given(st.text(max_size=10))
    def test_strings_never_become_rates(self, text):
        """No string is ever coerced to a rate."""
        for flags in (_PHASE2, _PHASE1):
            with pytest.raises(ConfigValidationError):
                validate_config(_doc(None, text), flags=flags)
