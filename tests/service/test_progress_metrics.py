"""/metrics' search-progress families: last commit time, LLM iterations and failures, champion."""

from __future__ import annotations

from typing import Any

from prometheus_client.parser import text_string_to_metric_families
from service_helpers import history_record

from stratloop.config.models import StratloopConfig
from stratloop.flags import EnvFlagSource
from stratloop.iteration import IterationRecord
from stratloop.service import LoopService
from stratloop.service.health import HealthSnapshot, judge_metrics
from stratloop.service.metrics import render_metrics

_LLM = {
    "method": "llm",
    "rule": "innovation_draw",
    "use_factor_graph": None,
    "innovation_rate": 100.0,
    "draw": 0.5,
    "reason": "drawn",
}
_SILENT = {
    "kind": "silent",
    "from_method": "llm",
    "to_method": "factor_graph",
    "reason": "the LLM failed",
    "error_type": "LLMUnavailableError",
}


def _families(records: list[IterationRecord]) -> tuple[str, dict[str, list[Any]]]:
    config = StratloopConfig.model_validate(
        {"version": 1, "generation": {"use_factor_graph": None, "innovation_rate": 100}}
    )
    service = LoopService(config, EnvFlagSource({}))
    for record in records:
        service.committed(record, None)
    state = service.state()
    text = render_metrics(HealthSnapshot("healthy", None, None, state, (), judge_metrics({})))
    families = {
        f.name: [(s.labels, s.value) for s in f.samples]
        for f in text_string_to_metric_families(text.decode())
    }
    return state.run_id, families


def test_before_the_first_iteration() -> None:
    """No commit time and no champion are made up; the LLM counters start at 0."""
    _run_id, families = _families([])
    assert families["stratloop_last_iteration_timestamp_seconds"] == []
    assert families["stratloop_champion_train_metric"] == []
    assert families["stratloop_llm_iterations"] == [({}, 0.0)]
    assert families["stratloop_llm_failures"] == [({}, 0.0)]


def test_progress_of_a_run() -> None:
    """LLM-decided iterations, those whose LLM attempt failed, the champion, the last commit."""
    records = [
        history_record(
            0,
            timestamp="2026-01-01T00:00:00.000000+00:00",
            champion=True,
            train={"sharpe": 1.5, "n_trades": 10, "calmar": None},
        ),
        history_record(
            1,
            decision=_LLM,
            implementation="procedural",
            strategy_selected="procedural",
            fallback=_SILENT,
        ),
        history_record(
            2,
            decision=_LLM,
            implementation="procedural",
            strategy_selected="procedural",
            method_used="llm",
        ),
        history_record(
            3,
            decision=_LLM,
            implementation="procedural",
            strategy_selected="procedural",
            method_used=None,
            candidate=None,
            status="generation_failed",
            error={"stage": "generation", "type": "LLMUnavailableError", "message": "m"},
        ),
        history_record(
            4, timestamp="2026-01-01T00:01:40.000000+00:00", champion=False, train={"sharpe": 9.0}
        ),
    ]
    run_id, families = _families(records)
    assert families["stratloop_llm_iterations"] == [({}, 3.0)]
    assert families["stratloop_llm_failures"] == [({}, 2.0)]
    assert families["stratloop_champion_train_metric"] == [
        ({"run_id": run_id, "metric": "n_trades"}, 10.0),
        ({"run_id": run_id, "metric": "sharpe"}, 1.5),
    ]
    assert families["stratloop_last_iteration_timestamp_seconds"] == [({}, 1767225700.0)]


def test_a_timestamp_that_is_not_iso_has_no_sample() -> None:
    """A record whose timestamp is not ISO 8601 leaves the commit time without a sample."""
    _run_id, families = _families([history_record(0, timestamp="t0")])
    assert families["stratloop_last_iteration_timestamp_seconds"] == []
