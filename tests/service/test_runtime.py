"""The loop service keeps counts, not records: its memory does not grow with the run."""

from __future__ import annotations

import gc
import itertools
import tracemalloc
from pathlib import Path

import pytest
from service_helpers import committed_records

from stratloop.acceptance.health import FixedFlags
from stratloop.config.models import StratloopConfig
from stratloop.errors import RunError
from stratloop.flags import Flags
from stratloop.service import LoopService
from stratloop.service.runtime import ServiceState

_SMALL, _LARGE = 20_000, 200_000
_SLACK = 64 * 1024
"""Bytes of noise allowed; keeping the 180,000 extra records would take over 100 MB."""


def _traced() -> int:
    gc.collect()
    return tracemalloc.get_traced_memory()[0]


def _state(service: LoopService) -> tuple[ServiceState, int]:
    """The service's state and the bytes state() allocated at its peak."""
    before = _traced()
    tracemalloc.reset_peak()
    state = service.state()
    return state, tracemalloc.get_traced_memory()[1] - before


class TestLoopService:
    def test_memory_stays_bounded_over_a_long_run(self) -> None:
        """200,000 committed records leave the service (and state()) where 20,000 did."""
        config = StratloopConfig.model_validate(
            {"version": 1, "generation": {"use_factor_graph": True, "innovation_rate": 0}}
        )
        service = LoopService(config, FixedFlags(Flags(source="test")))
        records = committed_records(_LARGE)
        tracemalloc.start()
        try:
            for record in itertools.islice(records, _SMALL):
                service.committed(record, None)
            small = _traced()
            early, early_cost = _state(service)
            del early
            for record in records:
                service.committed(record, None)
            large = _traced()
            state, late_cost = _state(service)
        finally:
            tracemalloc.stop()
        assert state.iteration == _LARGE
        assert state.history.statuses["evaluated"] == _LARGE // 4
        assert large - small < _SLACK, f"the service kept {large - small} more bytes"
        assert late_cost - early_cost < _SLACK, f"state() cost {early_cost}, then {late_cost}"

    def test_a_run_id_names_a_new_run_only(self, tmp_path: Path) -> None:
        """A run id names the new run; given with a resume as well it is an error."""
        config = StratloopConfig.model_validate(
            {
                "version": 1,
                "generation": {"use_factor_graph": True, "innovation_rate": 0},
                "loop": {"runs_dir": str(tmp_path / "runs")},
            }
        )
        flags = FixedFlags(Flags(source="test"))
        assert LoopService(config, flags, run_id="named").run_id == "named"
        with pytest.raises(RunError, match="give one of them"):
            LoopService(config, flags, resume="latest", run_id="named")
