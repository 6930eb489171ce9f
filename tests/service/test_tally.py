"""The history tally gives every history figure the record-walking code gave, record for record."""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families
from service_helpers import committed_records, history_record

from stratloop.acceptance.health import FixedFlags
from stratloop.config.models import GenerationConfig, StratloopConfig
from stratloop.errors import RunError
from stratloop.flags import Flags
from stratloop.iteration import IterationRecord
from stratloop.loop.counters import LoopCounters
from stratloop.service import HistoryTally, LoopService, Measurement, measure_counts
from stratloop.service.health import HealthSnapshot
from stratloop.service.measure import measure_history
from stratloop.service.metrics import render_metrics
from stratloop.service.tally import EXPECTED_STRATEGY

# The record-walking implementation the tally replaced, kept as the oracle.

_FAILED = frozenset({"generation_failed", "evaluation_failed", "evaluation_timeout"})


def _share(name: str, part: int, whole: int, what: str) -> Measurement:
    if whole == 0:
        return Measurement(name, None, f"no {what} yet")
    return Measurement(name, part / whole, f"{part}/{whole} {what}")


def _walked_history(
    records: Sequence[Mapping[str, Any]], generation: GenerationConfig
) -> dict[str, Measurement]:
    counters = LoopCounters(generation)
    for record in records:
        counters.add(IterationRecord.from_dict(record))
    snap = counters.snapshot()
    total = len(records)
    found: dict[str, Measurement] = {}
    found["config_priority_adherence"] = _share(
        "config_priority_adherence", snap["adherent"], total, "iterations followed the priority"
    )
    found["silent_fallback_count"] = Measurement(
        "silent_fallback_count",
        float(snap["silent_fallbacks"]) if total else None,
        f"{snap['silent_fallbacks']} silent fallbacks in {total} iterations",
    )
    found["validation_error_rate"] = _share(
        "validation_error_rate",
        snap["validation_errors"],
        total,
        "iterations failed candidate validation",
    )
    pattern = [r for r in records if r.get("implementation") == "strategy_pattern"]
    right = sum(
        r.get("strategy_selected") == EXPECTED_STRATEGY[r["decision"]["use_factor_graph"]]
        for r in pattern
    )
    found["strategy_selection_accuracy"] = _share(
        "strategy_selection_accuracy", right, len(pattern), "strategy-pattern selections correct"
    )
    found["error_rate_vs_baseline"] = _walked_error_ratio(records)
    return found


def _walked_error_ratio(records: Sequence[Mapping[str, Any]]) -> Measurement:
    counts = {"strategy_pattern": [0, 0], "procedural": [0, 0]}
    for record in records:
        pair = counts.get(str(record.get("implementation")))
        if pair is not None:
            pair[0] += record.get("status") in _FAILED
            pair[1] += 1
    (new_err, new_n), (old_err, old_n) = counts["strategy_pattern"], counts["procedural"]
    name = "error_rate_vs_baseline"
    if new_n == 0 or old_n == 0:
        return Measurement(
            name,
            None,
            f"needs iterations of both implementations in the run ({new_n} strategy pattern, "
            f"{old_n} Phase 1-2); run a baseline with PHASE3_STRATEGY_PATTERN=false first",
        )
    new_rate, old_rate = new_err / new_n, old_err / old_n
    detail = f"error rate {new_rate:.4f} (Phase 3, n={new_n}) vs {old_rate:.4f} (Phase 1-2)"
    if old_rate == 0.0:
        return Measurement(name, 1.0 if new_rate == 0.0 else float("inf"), detail)
    return Measurement(name, new_rate / old_rate, detail)


def _walked_families(records: Sequence[Mapping[str, Any]]) -> dict[str, list[Any]]:
    """The /metrics samples the service built from its records (labels, value), in order."""
    statuses = Counter(str(r.get("status")) for r in records)
    kinds = Counter(
        (str(r["error"].get("stage")), str(r["error"].get("type")))
        for r in records
        if r.get("error")
    )
    selected = Counter(str(r.get("strategy_selected")) for r in records)
    return {
        "stratloop_iterations": [({"status": n}, float(c)) for n, c in sorted(statuses.items())],
        "stratloop_errors": [
            ({"stage": s, "type": k}, float(c)) for (s, k), c in sorted(kinds.items())
        ],
        "stratloop_strategy_selected": [
            ({"strategy": n}, float(c)) for n, c in sorted(selected.items())
        ],
    }


# Random history-like records: real committed records with their generation fields redrawn.

_TEMPLATES = tuple(record.as_dict() for record in committed_records(4))
_NAMES = ("FactorGraphStrategy", "LLMStrategy", "MixedStrategy", "procedural", "legacy")
_ERRORS = ("LLMUnavailableError", "FactorGraphError", "BacktestError", "ExpressionError")
_STATUSES = (
    "evaluated",
    "generation_failed",
    "validation_failed",
    "evaluation_failed",
    "evaluation_timeout",
)

_fallbacks = st.none() | st.fixed_dictionaries(
    {
        "kind": st.sampled_from(("explicit", "silent")),
        "from_method": st.sampled_from(("llm", "factor_graph")),
        "to_method": st.sampled_from(("llm", "factor_graph")),
        "reason": st.just("the LLM failed"),
        "error_type": st.none() | st.sampled_from(_ERRORS),
    }
)
_errors = st.none() | st.fixed_dictionaries(
    {
        "stage": st.sampled_from(("generation", "validation", "evaluation")),
        "type": st.sampled_from(_ERRORS),
        "message": st.text(max_size=5),
    }
)
_decisions = st.fixed_dictionaries(
    {
        "method": st.sampled_from(("llm", "factor_graph")),
        "rule": st.sampled_from(
            ("explicit_factor_graph", "explicit_llm", "innovation_draw", "legacy_draw")
        ),
        "use_factor_graph": st.sampled_from((True, False, None)),
        "innovation_rate": st.floats(0, 100),
        "draw": st.floats(0, 1, exclude_max=True),
        "reason": st.just("drawn"),
    }
)
_usage = st.none() | st.fixed_dictionaries(
    {
        "prompt_tokens": st.integers(0, 5000),
        "completion_tokens": st.integers(0, 5000),
        "calls": st.integers(0, 3),
        "cost": st.floats(0, 1),
    }
)


@st.composite
def _records(draw: st.DrawFn) -> dict[str, Any]:
    record = copy.deepcopy(draw(st.sampled_from(_TEMPLATES)))
    record.update(
        implementation=draw(st.sampled_from(("strategy_pattern", "procedural", "legacy"))),
        decision=draw(_decisions),
        strategy_selected=draw(st.sampled_from(_NAMES)),
        method_used=draw(st.none() | st.sampled_from(("llm", "factor_graph"))),
        fallback=draw(_fallbacks),
        status=draw(st.sampled_from(_STATUSES)),
        error=draw(_errors),
        audited=draw(st.booleans()),
        champion=draw(st.booleans()),
        budget_mode=draw(st.none() | st.just("factor_graph_only")),
        llm_usage=draw(_usage),
    )
    generation_error = draw(st.none() | st.sampled_from(_ERRORS))
    record["generation_error"] = (
        None if generation_error is None else {"type": generation_error, "message": "m"}
    )
    if record["status"] == "evaluated":
        record["error"] = None
        record["candidate"] = record["candidate"] or _TEMPLATES[0]["candidate"]
    else:
        record["error"] = record["error"] or draw(_errors.filter(bool))
        if draw(st.booleans()):
            record["candidate"] = None
    record["timestamp"] = draw(st.text(max_size=8))
    return record


_generations = st.builds(
    GenerationConfig,
    use_factor_graph=st.sampled_from((True, False, None)),
    innovation_rate=st.integers(0, 100) | st.floats(0, 100),
)


def _service(generation: GenerationConfig) -> LoopService:
    config = StratloopConfig.model_validate(
        {"version": 1, "generation": generation.model_dump(mode="json")}
    )
    return LoopService(config, FixedFlags(Flags(source="test")))


class TestHistoryTally:
    @settings(max_examples=150, deadline=None)
    @given(records=st.lists(_records(), max_size=25), generation=_generations)
    def test_same_figures_as_walking_the_records(
        self, records: list[dict[str, Any]], generation: GenerationConfig
    ) -> None:
        """measure_history and the live tally equal the record walk, in value and detail."""
        walked = _walked_history(records, generation)
        typed = [IterationRecord.from_dict(record) for record in records]
        assert measure_history(typed, generation) == walked
        service = _service(generation)
        for record in typed:
            service.committed(record, None)
        state = service.state()
        assert measure_counts(state.history) == walked
        assert state.iteration == len(records)
        assert state.history.audited == sum(bool(r.get("audited")) for r in records)
        assert state.last_iteration_at == (str(records[-1].get("timestamp")) if records else None)
        snapshot = HealthSnapshot("healthy", None, None, state, (), ())
        families = {
            f.name: [(s.labels, s.value) for s in f.samples]
            for f in text_string_to_metric_families(render_metrics(snapshot).decode())
        }
        for name, samples in _walked_families(records).items():
            assert families[name] == samples, name

    def test_realistic_run_figures(self) -> None:
        """On committed records the figures are the record walk's, and not all trivial."""
        records = list(committed_records(40))
        generation = GenerationConfig(use_factor_graph=True, innovation_rate=0)
        found = measure_history(records, generation)
        assert found == _walked_history([r.as_dict() for r in records], generation)
        assert found["validation_error_rate"] == Measurement(
            "validation_error_rate", 0.25, "10/40 iterations failed candidate validation"
        )
        assert found["error_rate_vs_baseline"].value == (10 / 30) / (10 / 10)

    def test_snapshot_is_frozen_and_independent(self) -> None:
        """A snapshot does not change when more records are folded, and cannot be edited."""
        tally = HistoryTally(GenerationConfig(use_factor_graph=True, innovation_rate=0))
        tally.add(history_record(0))
        before = tally.counts()
        tally.add(history_record(1, status="validation_failed", strategy_selected="LLMStrategy"))
        assert before.iterations == 1
        assert dict(before.statuses) == {"evaluated": 1}
        assert dict(tally.counts().strategies) == {"FactorGraphStrategy": 1, "LLMStrategy": 1}
        with pytest.raises(TypeError):
            before.statuses["evaluated"] = 5  # type: ignore[index]

    def test_a_record_without_status_is_refused(self) -> None:
        """A line that is not a history record never reaches the tally: reading it names the key."""
        record = history_record(0).as_dict()
        del record["status"]
        with pytest.raises(RunError, match="lacks the key 'status'"):
            IterationRecord.from_dict(record)


_CAUSES = (None, "LLMUnavailableError", "LLMEmptyResponseError")


class TestFailureWindow:
    @settings(max_examples=60, deadline=None)
    @given(
        kinds=st.lists(st.sampled_from(_CAUSES), max_size=60),
        window=st.integers(min_value=1, max_value=20),
    )
    def test_recent_failures_are_the_last_window_by_cause(
        self, kinds: list[str | None], window: int
    ) -> None:
        """Issue 13: the recent counts equal a recount of the last ``window`` records' causes."""
        tally = HistoryTally(GenerationConfig(use_factor_graph=True, innovation_rate=0), window)
        for i, kind in enumerate(kinds):
            failed = {
                "status": "generation_failed",
                "candidate": None,
                "method_used": None,
                "error": {"stage": "generation", "type": kind, "message": "m"},
            }
            tally.add(history_record(i, **(failed if kind else {})))
        counts = tally.counts()
        last = kinds[-window:]
        expected = Counter(f"generation/{kind}" for kind in last if kind is not None)
        assert counts.recent == len(last)
        assert dict(counts.recent_failures) == dict(expected)
        assert counts.recent_failed == sum(expected.values())
        assert counts.failed == sum(kind is not None for kind in kinds)
