"""AuditGauge: the audit metrics of a growing trail, measured incrementally, as a one-shot would."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stratloop.acceptance.audit_drills import rechain
from stratloop.acceptance.audit_samples import sample_record, sample_snapshot, write_sample_trail
from stratloop.audit import AuditTrail
from stratloop.audit._canonical import canonical_json, digest
from stratloop.audit.testing import StepClock
from stratloop.config.models import AuditConfig
from stratloop.report.audit import write_report
from stratloop.service.measure import AuditGauge, measure_audit


def _values(found: dict[str, object]) -> dict[str, object]:
    return {name: getattr(measurement, "value", None) for name, measurement in found.items()}


def _write(path: Path, records: list[dict[str, object]]) -> None:
    path.write_text("".join(json.dumps(record) + "\n" for record in records))


class TestAuditGauge:
    def test_incremental_measurements_equal_one_shot_ones(self, tmp_path):
        """Refreshed while the writer appends and rotates: the same values as a fresh measure."""
        path = tmp_path / "learning_audit.jsonl"
        config = AuditConfig(
            path=str(path), fsync="batch", batch_interval_s=0.01, rotate_max_bytes=9_000
        )
        snap = sample_snapshot()
        gauge = AuditGauge(path, "r")
        with AuditTrail(config, run_id="r", instance_id="i", clock=StepClock()) as trail:
            for iteration in range(30):
                trail.append(
                    sample_record(
                        iteration,
                        run_id="r",
                        instance_id="i",
                        config_snapshot=snap,
                        config_hash=digest(canonical_json(snap)),
                    )
                )
                if iteration % 5 == 4:
                    got, fresh = _values(gauge.measure(iteration + 1)), _values(
                        measure_audit(path, "r", iteration + 1)
                    )
                    # Archives are compressed on the writer's background thread, so the
                    # bytes on disk may change between the two measures; the rest may not.
                    got.pop("disk_usage_bytes_per_day")
                    fresh.pop("disk_usage_bytes_per_day")
                    assert got == fresh
        got = gauge.measure(30)
        assert _values(got) == _values(measure_audit(path, "r", 30))
        assert _values(got) == {
            "audit_completeness": 1.0,
            "violation_count": 0.0,
            "disk_usage_bytes_per_day": got["disk_usage_bytes_per_day"].value,
            "html_report_success": 1.0,
        }
        assert got["violation_count"].detail == "0 violations, 0 chain breaks in 30 records"
        assert "(30 records in " in got["html_report_success"].detail
        assert measure_audit(path, "r", 30)["violation_count"].detail == (
            "0 violations, 0 chain breaks in 30 records"
        )

    def test_report_failure_stays_until_the_trail_is_verified_again(self, tmp_path):
        """A record the report cannot render fails the metric for as long as it is in the trail."""
        path = tmp_path / "learning_audit.jsonl"
        config = AuditConfig(path=str(path), fsync="never")
        written = write_sample_trail(path, 3, config=config)
        bad = {**written[2], "llm_usage": {"total_tokens": "many"}}
        _write(path, rechain([*written[:2], bad]))
        path.with_name(path.name + ".head").unlink()
        with pytest.raises(ValueError, match="many"):
            write_report([path], tmp_path / "report.html")
        gauge = AuditGauge(path, "run-1")
        assert gauge.measure(3)["html_report_success"].value == 0.0
        write_sample_trail(path, 2, config=config, start=3)
        later = gauge.measure(5)["html_report_success"]
        assert later.value == 0.0
        assert later.detail.startswith("the report failed: ValueError")
        assert measure_audit(path, "run-1", 5)["html_report_success"].value == 0.0
        _write(path, rechain(written))
        path.with_name(path.name + ".head").unlink()
        path.with_name("learning_audit.checkpoints.jsonl").unlink()  # it names the lost seqs
        fixed = gauge.measure(3)
        assert fixed["html_report_success"].value == 1.0
        assert fixed["violation_count"].value == 1.0
        detail = fixed["violation_count"].detail
        assert "1 changes to already-verified audit bytes" in detail
        assert "; verified again from the first record (the live file " in detail

    def test_no_trail_yet(self, tmp_path):
        """No trail: no data before Phase 4 wrote anything, completeness 0 after; then it counts."""
        path = tmp_path / "learning_audit.jsonl"
        gauge = AuditGauge(path, "run-1")
        assert set(_values(gauge.measure(0)).values()) == {None}
        assert gauge.measure(2)["audit_completeness"].value == 0.0
        write_sample_trail(path, 2)
        assert gauge.measure(2)["audit_completeness"].value == 1.0
