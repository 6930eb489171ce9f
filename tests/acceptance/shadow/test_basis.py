"""What two shadow logs must share to be compared, and how a difference is named."""

from __future__ import annotations

from stratloop.acceptance.shadow import basis_differences

_BASIS = {
    "data": {"source": "sp500-20", "start_date": None, "digest": "aaaa"},
    "config": {"generation": {"innovation_rate": 20.0}, "llm": {"model": "m"}},
    "seed_schedule": {"seed": 7, "iterations": "0-99"},
}


def _log(**changes):
    basis = {part: {**values, **changes.get(part, {})} for part, values in _BASIS.items()}
    return {"seed": basis["seed_schedule"]["seed"], "basis": basis}


class TestBasisDifferences:
    def test_the_same_basis_has_no_difference(self):
        """Two logs of one environment, seed and iterations can be compared."""
        assert basis_differences(_log(), _log()) == []

    def test_each_difference_is_named_old_vs_new(self):
        """Data, config and seed schedule are each named with the field and both values."""
        found = basis_differences(
            _log(),
            _log(
                data={"digest": "bbbb"},
                config={"generation": {"innovation_rate": 30.0}},
                seed_schedule={"seed": 8},
            ),
        )
        assert found == [
            "data: digest 'aaaa' vs 'bbbb'",
            "config: generation.innovation_rate 20.0 vs 30.0",
            "seed schedule: seed 7 vs 8",
        ]

    def test_a_log_without_a_basis_is_compared_on_its_seed(self):
        """A log written before the basis was recorded: only its seed can be checked."""
        legacy = {"seed": 7}
        assert basis_differences(legacy, _log(config={"llm": {"model": "other"}})) == []
        assert basis_differences(legacy, _log(seed_schedule={"seed": 9})) == [
            "seed schedule: seed 7 vs 9"
        ]
