"""The guide's audit overhead: the real write path, in rounds, min of rounds (issue 16)."""

from __future__ import annotations

import pytest

from stratloop.acceptance.audit_drills import overhead_drill
from stratloop.config.models import StratloopConfig


def _config(fsync: str) -> StratloopConfig:
    return StratloopConfig.model_validate(
        {
            "version": 1,
            "generation": {"use_factor_graph": True, "innovation_rate": 0},
            "audit": {"fsync": fsync},
        }
    )


class TestOverheadDrill:
    def test_the_reported_round_is_the_one_with_the_lowest_p99(self) -> None:
        """Every round writes its records durably; the figures are the least disturbed round's."""
        result = overhead_drill(50, _config("always"), flags={}, rounds=3)
        assert len(result.round_p99_us) == 3
        assert result.p99_us == min(result.round_p99_us)
        assert result.p50_us <= result.p95_us <= result.p99_us <= result.max_us
        assert result.fsync == "always"
        assert result.bytes_per_record > 0
        payload = result.as_dict()
        assert payload["rounds"] == 3
        assert payload["round_p99_us"] == [round(v, 2) for v in result.round_p99_us]

    def test_at_least_one_round(self) -> None:
        """Zero rounds is an error, not an empty measurement."""
        with pytest.raises(ValueError, match="rounds must be at least 1"):
            overhead_drill(10, _config("never"), flags={}, rounds=0)
