from __future__ import annotations

import datetime as dt

import pytest

from stratloop.config import StratloopConfig
from stratloop.config.conflicts import check_conflicts, find_conflicts
from stratloop.errors import ConfigConflictError, ConfigConflictsError

_LLM = {"enabled": True, "base_url": "http://127.0.0.1:1/v1", "model": "m"}


def _config(generation=None, **sections):
    return StratloopConfig.model_validate(
        {
            "version": 1,
            "generation": generation or {"use_factor_graph": True, "innovation_rate": 0},
            **sections,
        }
    )


class TestConflicts:
    @pytest.mark.parametrize(
        ("config", "names"),
        [
            (
                _config({"use_factor_graph": True, "innovation_rate": 100}),
                ["factor_graph_with_full_innovation"],
            ),
            (
                _config({"use_factor_graph": False, "innovation_rate": 0}),
                [
                    "llm_required_but_disabled",
                    "llm_required_without_endpoint",
                    "llm_required_without_model",
                ],
            ),
            (
                _config(
                    {"use_factor_graph": None, "innovation_rate": 5}, llm={**_LLM, "model": None}
                ),
                ["llm_required_without_model"],
            ),
            (
                _config(backtest={"split_date": dt.date(2010, 1, 4), "train_fraction": 0.5}),
                ["split_date_with_train_fraction"],
            ),
            (
                _config(data={"start_date": dt.date(2010, 1, 2), "end_date": dt.date(2010, 1, 1)}),
                ["start_after_end"],
            ),
            (_config(llm={"max_cost_per_run": 5.0}), ["cost_cap_without_price"]),
            (
                _config(backtest={"benchmark": "none"}),
                ["excess_metric_without_benchmark"],
            ),
            (
                _config(backtest={"benchmark": "none"}, loop={"champion_metric": "excess_sharpe"}),
                ["excess_metric_without_benchmark"],
            ),
            (_config(search={"migration_interval": 10}), ["migration_without_islands"]),
        ],
    )
    def test_each_named_conflict(self, config, names):
        """Each contradiction is found under its name."""
        assert [c.name for c in find_conflicts(config)] == names

    @pytest.mark.parametrize(
        "config",
        [
            _config(),
            _config({"use_factor_graph": None, "innovation_rate": 0}),
            _config({"use_factor_graph": None, "innovation_rate": 100}, llm=_LLM),
            _config(backtest={"split_date": dt.date(2010, 1, 4)}),
            _config(backtest={"benchmark": "none"}, loop={"champion_metric": "sharpe"}),
            _config(search={"islands": 4, "migration_interval": 10}),
        ],
    )
    def test_consistent_configs_have_none(self, config):
        """Consistent configurations have no conflicts."""
        assert find_conflicts(config) == ()

    def test_one_raises_single_many_raise_all(self):
        """One conflict raises it; several raise one error listing all."""
        with pytest.raises(ConfigConflictError) as one:
            check_conflicts(_config({"use_factor_graph": True, "innovation_rate": 100}))
        assert not isinstance(one.value, ConfigConflictsError)
        with pytest.raises(ConfigConflictsError) as many:
            check_conflicts(_config({"use_factor_graph": False, "innovation_rate": 0}))
        assert len(many.value.conflicts) == 3
