from __future__ import annotations

import itertools

import pytest

from stratloop.errors import FlagCombinationError
from stratloop.flags import FLAG_VARIABLES, Flags


def _legal(master: bool, p1: bool, p3: bool) -> bool:
    return not (master and p3 and not p1)


_ALL = list(itertools.product([True, False], repeat=5))


class TestFlags:
    def test_defaults_are_all_on(self):
        """Unset means true: a fresh install runs the finished system (phase 4)."""
        flags = Flags()
        assert flags.effective_phase == 4
        assert flags.enforcement
        assert flags.pydantic_validation
        assert flags.strategy_pattern
        assert flags.audit_trail

    @pytest.mark.parametrize("values", _ALL)
    def test_every_legal_combination_builds_and_illegal_raises(self, values):
        """Only Phase 3 without Phase 1 (master on) is rejected; all 31 others build."""
        master, p1, p2, p3, p4 = values
        if _legal(master, p1, p3):
            flags = Flags(master, p1, p2, p3, p4)
            assert flags.raw() == dict(zip(FLAG_VARIABLES, values, strict=True))
        else:
            with pytest.raises(FlagCombinationError, match="requires PHASE1_CONFIG_ENFORCEMENT"):
                Flags(master, p1, p2, p3, p4)

    @pytest.mark.parametrize("values", [v for v in _ALL if not v[0]])
    def test_master_off_is_phase_zero(self, values):
        """The kill switch off makes every phase off, whatever the phase flags say."""
        flags = Flags(*values)
        assert flags.effective_phase == 0
        assert not any(
            [
                flags.enforcement,
                flags.pydantic_validation,
                flags.strategy_pattern,
                flags.audit_trail,
            ]
        )

    @pytest.mark.parametrize(
        ("phases", "expected"),
        [
            ((True, True, False, False), 2),
            ((True, False, False, False), 1),
            ((False, True, False, True), 0),
            ((True, True, True, False), 3),
            ((True, False, True, True), 1),
        ],
    )
    def test_effective_phase_is_highest_contiguous(self, phases, expected):
        """The effective phase is the highest n with phases 1..n all on."""
        assert Flags(True, *phases).effective_phase == expected

    def test_as_dict_has_health_keys_and_raw_variables(self):
        """as_dict carries phaseN_enabled (effective) and the raw variables."""
        data = Flags(False, True, True, False, True).as_dict()
        assert data["phase1_enabled"] is False
        assert data["PHASE1_CONFIG_ENFORCEMENT"] is True
        assert data["ENABLE_GENERATION_REFACTORING"] is False
        assert data["effective_phase"] == 0
        assert set(FLAG_VARIABLES) <= set(data)
