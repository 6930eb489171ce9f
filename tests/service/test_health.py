"""Status rules and history measurements on plain records."""

from __future__ import annotations

from service_helpers import history_record

from stratloop.config.models import GenerationConfig
from stratloop.service import Check, Measurement, judge_metrics, overall_status
from stratloop.service.health import _audit_overhead, p99
from stratloop.service.measure import measure_history

GEN = GenerationConfig(use_factor_graph=True, innovation_rate=0)


class TestStatus:
    def test_fatal_check_is_unhealthy(self) -> None:
        """A failed fatal check (flags, loop, audit writes) makes the status unhealthy."""
        checks = [Check("flags", False, "PHASE2=maybe", fatal=True)]
        assert overall_status(checks, ()) == "unhealthy"

    def test_alert_is_degraded(self) -> None:
        """A metric over its alert threshold makes the status degraded."""
        measured = {"silent_fallback_count": Measurement("silent_fallback_count", 1, "")}
        figures = judge_metrics(measured)
        assert overall_status([Check("flags", True, "", fatal=True)], figures) == "degraded"

    def test_no_data_is_healthy(self) -> None:
        """Metrics without data do not count against health."""
        assert overall_status([], judge_metrics({})) == "healthy"

    def test_p99_nearest_rank(self) -> None:
        """p99 of 1..100 is 99; of nothing is None."""
        assert p99([float(i) for i in range(1, 101)]) == 99.0
        assert p99([]) is None


class TestAuditOverhead:
    def test_the_run_judges_itself_from_a_hundred_writes(self) -> None:
        writes = [0.1] * 98 + [7.0, 9.0]
        probe = {"audit_overhead_ms": Measurement("audit_overhead_ms", 0.2, "p99 of a drill")}
        got = _audit_overhead(writes, probe)
        assert got.value == 7.0
        assert got.detail == "p99 of the last 100 audit writes of this run"

    def test_more_writes_are_judged_in_rounds_min_of_rounds(self) -> None:
        """A burst of a loaded host's slow writes in one round does not set the figure."""
        writes = [0.2] * 400 + [40.0] * 20 + [0.1] * 580
        got = _audit_overhead(writes, {})
        assert got.value == 0.1
        assert got.detail.startswith(
            "p99 of the last 1000 audit writes of this run, the lowest of 5 rounds of 200"
        )
        assert "40.000" in got.detail

    def test_a_slow_write_path_is_slow_in_every_round(self) -> None:
        """Slow writes spread over the run still cross the budget."""
        writes = ([0.1] * 18 + [12.0] * 2) * 50
        got = _audit_overhead(writes, {})
        assert got.value == 12.0
        (figure,) = (
            f
            for f in judge_metrics({"audit_overhead_ms": got})
            if f.threshold.name == "audit_overhead_ms"
        )
        assert figure.verdict == "alert"

    def test_before_that_the_probe_stands_in_and_says_so(self) -> None:
        probe = {"audit_overhead_ms": Measurement("audit_overhead_ms", 0.2, "p99 of a drill")}
        got = _audit_overhead([0.1, 30.0], probe)
        assert got.value == 0.2
        assert got.detail == "p99 of a drill; this run has 2 audit writes, a p99 needs 100"

    def test_preempted_writes_count_as_writes_but_are_not_timed(self) -> None:
        """The count says how many writes the run made and how many were not timed."""
        got = _audit_overhead([0.1, 0.2], {}, untimed=3)
        assert got.detail.startswith(
            "this run has 5 audit writes, a p99 needs 100 timed ones (3 preempted by other "
            "processes, not timed)"
        )

    def test_without_a_probe_a_few_writes_are_not_judged(self) -> None:
        got = _audit_overhead([0.1, 30.0], {})
        assert got.value is None
        assert got.detail == (
            "this run has 2 audit writes, a p99 needs 100 (the slowest took 30.000 ms)"
        )
        assert judge_metrics({"audit_overhead_ms": got})[0].verdict == "no_data"


class TestMeasureHistory:
    def test_clean_records(self) -> None:
        """Adherent factor-graph records give 100% adherence and selection accuracy."""
        found = measure_history([history_record(i) for i in range(4)], GEN)
        assert found["config_priority_adherence"].value == 1.0
        assert found["silent_fallback_count"].value == 0.0
        assert found["strategy_selection_accuracy"].value == 1.0
        assert found["error_rate_vs_baseline"].value is None

    def test_wrong_selection_and_validation_errors(self) -> None:
        """A wrong strategy name and a validation failure are counted."""
        records = [
            history_record(0),
            history_record(1, strategy_selected="LLMStrategy", status="validation_failed"),
        ]
        found = measure_history(records, GEN)
        assert found["strategy_selection_accuracy"].value == 0.5
        assert found["validation_error_rate"].value == 0.5

    def test_error_ratio_against_procedural(self) -> None:
        """Phase 3 error rate over the Phase 1-2 rate of the same run."""
        failed = {
            "status": "evaluation_failed",
            "error": {"stage": "evaluation", "type": "X", "message": "m"},
        }
        records = [
            history_record(0, implementation="procedural", **failed),
            history_record(1, implementation="procedural"),
            history_record(2, **failed),
            history_record(3, **failed),
        ]
        found = measure_history(records, GEN)
        assert found["error_rate_vs_baseline"].value == 2.0

    def test_no_records_is_no_data(self) -> None:
        """With no records every history metric is None, never zero."""
        found = measure_history([], GEN)
        assert all(m.value is None for m in found.values())
