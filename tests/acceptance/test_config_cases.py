"""The guide's Phase 2 check cases, run on different base documents."""

from __future__ import annotations

import pytest

from stratloop.acceptance.config_cases import (
    backward_compatibility_checks,
    edge_case_checks,
    validation_checks,
)

_MINIMAL = {"version": 1, "generation": {"use_factor_graph": True, "innovation_rate": 0}}
_WITH_LLM_OFF = {
    "version": 1,
    "generation": {"use_factor_graph": True, "innovation_rate": 0},
    "llm": {"enabled": False},
}


class TestValidationChecks:
    @pytest.mark.parametrize("base", [_MINIMAL, _WITH_LLM_OFF], ids=["no-llm-section", "llm-off"])
    def test_valid_cases_pass_on_a_base_without_an_llm(self, base):
        """A base with no LLM still accepts every valid case (no false positives)."""
        results = validation_checks("valid_configs", base)
        failed = [(r.name, r.detail) for r in results if not r.passed]
        assert failed == []

    @pytest.mark.parametrize("base", [_MINIMAL, _WITH_LLM_OFF], ids=["no-llm-section", "llm-off"])
    def test_invalid_cases_are_rejected_on_any_base(self, base):
        """Every invalid case is rejected by both validators."""
        results = validation_checks("invalid_configs", base)
        assert results
        assert all(r.passed for r in results), [(r.name, r.detail) for r in results if not r.passed]

    def test_other_check_groups_pass_on_a_minimal_base(self):
        """Backward-compatibility and edge-case checks pass on the smallest valid document."""
        results = backward_compatibility_checks(_MINIMAL) + edge_case_checks(_MINIMAL)
        assert all(r.passed for r in results), [(r.name, r.detail) for r in results if not r.passed]

    def test_a_check_that_should_fail_does(self):
        """The checks can fail: a base that is itself invalid fails its 'as written' case."""
        broken = {"version": 1, "generation": {"use_factor_graph": True, "innovation_rate": 100}}
        results = validation_checks("valid_configs", broken)
        assert not all(r.passed for r in results)
