"""The deployment guide's Phase 4 tests: the audit trail (15 unit + 5 integration, and more)."""

from __future__ import annotations

import copy
import errno
import itertools
import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from disk_helpers import tmpfs
from iteration_records import record_at
from stratloop.acceptance.audit_drills import INJECTIONS, inject, rechain, violation_drill
from stratloop.acceptance.audit_samples import sample_snapshot, write_sample_trail
from stratloop.audit import (
    GUIDE_REQUIRED_FIELDS,
    AuditTrail,
    audit_record,
    capture_records,
    record_violation,
    schema_problem,
    verify_trail,
)
from stratloop.audit._files import read_content
from stratloop.audit.processors import REDACTED
from stratloop.audit.query import query_trail
from stratloop.audit.testing import StepClock
from stratloop.config.models import AuditConfig
from stratloop.errors import AuditWriteError
from stratloop.generation.decision import decide
from stratloop.generation.outcome import Fallback, GenerationOutcome
from stratloop.iteration import IterationRecord, StageError, Timings
from stratloop.report.audit import write_report
from stratloop.spec import Candidate, Strategy, TopN

REPO = Path(__file__).resolve().parents[2]


def _first(outcome, **fields):
    """The record of iteration 0 of batch 0, whose generation produced ``outcome``."""
    return IterationRecord.build(
        iteration_num=0, batch=0, timestamp="t", flags={}, outcome=outcome, **fields
    )


def _audited(outcome, snap, *, error="LLMUnavailableError"):
    """The audit projection of an iteration whose generation produced ``outcome``."""
    record = _first(
        outcome,
        status="generation_failed",
        error=StageError("generation", error, outcome.error_message or ""),
        timings=Timings(generate_s=0.001, validate_s=0.0),
    )
    return audit_record(record, run_id="r", instance_id="i", config_snapshot=snap, config_hash="h")


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


class TestAuditRecord:
    def test_every_guide_field_is_present(self, tmp_path):
        """Each written record carries the guide's required fields and a valid schema."""
        records = write_sample_trail(tmp_path / "a.jsonl", 5)
        for record in records:
            assert all(name in record for name in GUIDE_REQUIRED_FIELDS)
            assert schema_problem(record) is None
            assert "use_factor_graph" in record["decision"]
            assert record["violation"] is False

    def test_timestamp_is_utc_iso_with_z(self, tmp_path):
        """Timestamps come from the clock, in UTC ISO 8601 ending in Z."""
        records = write_sample_trail(tmp_path / "a.jsonl", 2, clock=StepClock())
        assert [r["timestamp"] for r in records] == [
            "2025-11-11T23:01:00.000000Z",
            "2025-11-11T23:02:00.000000Z",
        ]

    def test_one_line_per_record(self, tmp_path):
        """100 appends give exactly 100 parseable lines."""
        path = tmp_path / "a.jsonl"
        write_sample_trail(path, 100)
        assert len(_lines(path)) == 100

    def test_non_finite_metrics_become_null(self):
        """JSON has no NaN: a NaN metric is written as null, not as invalid JSON."""
        snap = sample_snapshot()
        candidate = Candidate(Strategy(expression="rank(returns)", portfolio=TopN(n=5)), "llm")
        outcome = GenerationOutcome(
            "procedural", decide(None, 20.0, 0.1), "procedural", "llm", candidate
        )
        record = _first(
            outcome,
            status="evaluated",
            train={"sharpe": float("nan")},
            validation={"sharpe": float("inf")},
            timings=Timings(generate_s=0.001, validate_s=0.0, evaluate_s=float("nan")),
        )
        audited = audit_record(
            record, run_id="r", instance_id="i", config_snapshot=snap, config_hash="h"
        )
        assert audited.outcome["metrics"] == {
            "train": {"sharpe": None},
            "validation": {"sharpe": None},
            "folds": [],
        }
        assert audited.timings["backtest_ms"] is None
        assert audited.outcome["status"] == "success"

    def test_success_without_candidate_is_rejected(self):
        """A record cannot claim success for an iteration that produced nothing."""
        outcome = GenerationOutcome("procedural", decide(True, 0.0, 0.5), "procedural", None, None)
        with pytest.raises(ValueError, match="no candidate"):
            _first(
                outcome,
                status="evaluated",
                timings=Timings(generate_s=0.0, validate_s=0.0),
            )


class TestRedaction:
    def test_api_key_from_environment_never_written(self, tmp_path, monkeypatch):
        """The key in the variable llm.api_key_env names is redacted wherever it appears."""
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-SECRET-123456")
        snap = sample_snapshot()
        candidate = Candidate(
            Strategy(expression="rank(returns)", portfolio=TopN(n=5)), "factor_graph"
        )
        outcome = GenerationOutcome(
            "procedural",
            decide(None, 20.0, 0.1),
            "procedural",
            "factor_graph",
            candidate,
            fallback=Fallback("explicit", "llm", "factor_graph", "configured", "LLMError"),
            error_type="LLMError",
            error_message="auth failed for sk-test-SECRET-123456",
        )
        iteration = _first(
            outcome,
            status="evaluated",
            train={"token": "abc", "max_tokens": 5},
            validation={},
            timings=Timings(generate_s=0.0, validate_s=0.0, evaluate_s=0.0),
        )
        record = audit_record(
            iteration, run_id="r", instance_id="i", config_snapshot=snap, config_hash="h"
        )
        path = tmp_path / "a.jsonl"
        with AuditTrail(AuditConfig(path=str(path)), run_id="r", instance_id="i") as trail:
            written = trail.append(record)
        text = path.read_text()
        assert "SECRET" not in text
        assert written["outcome"]["error_message"] == f"auth failed for {REDACTED}"
        assert written["outcome"]["metrics"] == {
            "train": {"token": REDACTED, "max_tokens": 5},
            "validation": {},
            "folds": [],
        }


class TestHashChain:
    def test_chain_links_every_record(self, tmp_path):
        """Seq is contiguous from 0 and each prev_hash is the previous hash."""
        records = write_sample_trail(tmp_path / "a.jsonl", 10)
        assert [r["seq"] for r in records] == list(range(10))
        assert all(b["prev_hash"] == a["hash"] for a, b in itertools.pairwise(records))

    def test_chain_continues_across_restarts(self, tmp_path):
        """A second process continues seq and the chain; verify sees one intact trail."""
        path = tmp_path / "a.jsonl"
        first = write_sample_trail(path, 3)
        second = write_sample_trail(path, 3, start=3)
        assert second[0]["seq"] == 3
        assert second[0]["prev_hash"] == first[-1]["hash"]
        assert verify_trail(path).ok

    @settings(
        max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )
    @given(
        index=st.integers(min_value=0, max_value=29),
        edit=st.sampled_from(["delete", "swap", "edit", "edit_rehash"]),
        gz_archive=st.booleans(),
    )
    def test_any_single_tamper_is_detected(self, tmp_path_factory, index, edit, gz_archive):
        """Deleting, reordering or editing any one record in any file fails verify and names it."""
        directory = tmp_path_factory.mktemp("tamper")
        path = directory / "a.jsonl"
        config = AuditConfig(path=str(path), fsync="never", rotate_max_bytes=20_000)
        write_sample_trail(path, 30, config=config)
        files = [*sorted(directory.glob("a.*.jsonl.zst")), path]
        target_file, target_line = None, None
        offset = 0
        for file in files:
            data = read_content(file)
            lines = data.splitlines(keepends=True)
            if offset <= index < offset + len(lines):
                target_file, target_line, content = file, index - offset, lines
                break
            offset += len(lines)
        if gz_archive and target_file == path and len(files) > 1:
            target_file = files[0]
            data = read_content(target_file)
            content, target_line = data.splitlines(keepends=True), 0
        lines = list(content)
        if edit == "delete":
            del lines[target_line]
        elif edit == "swap":
            other = target_line + 1 if target_line + 1 < len(lines) else target_line - 1
            lines[target_line], lines[other] = lines[other], lines[target_line]
        else:
            record = json.loads(lines[target_line])
            record["decision"]["reason"] = "edited"
            if edit == "edit_rehash":
                record["hash"] = rechain([record])[0]["hash"]
            lines[target_line] = (json.dumps(record) + "\n").encode()
        data = b"".join(lines)
        target_file.write_bytes(
            zstandard.ZstdCompressor().compress(data) if target_file.suffix == ".zst" else data
        )
        report = verify_trail(path)
        assert not report.ok
        assert report.breaks
        assert report.breaks[0].path.name in {f.name for f in files}


class TestViolations:
    def test_each_injected_violation_is_caught(self, tmp_path):
        """Every kind of injected violation is detected on an otherwise intact copy."""
        records = write_sample_trail(tmp_path / "a.jsonl", 60)
        results = violation_drill(records, tmp_path)
        assert [r.name for r in results] == list(INJECTIONS)
        assert all(r.caught for r in results), results

    def test_explicit_fallback_needs_configuration(self):
        """An explicit fallback is legal only when on_llm_failure says so."""
        snap = sample_snapshot(use_factor_graph=False, rate=0.0)
        record = {
            "config_snapshot": snap,
            "implementation": "procedural",
            "flags": {},
            "decision": {
                "use_factor_graph": False,
                "innovation_rate": 0.0,
                "draw": 0.3,
                "rule": "explicit_llm",
                "method": "llm",
                "reason": "x",
            },
            "generation_method_used": "factor_graph",
            "fallback": {
                "kind": "explicit",
                "from_method": "llm",
                "to_method": "factor_graph",
                "reason": "LLM down",
                "error_type": "LLMUnavailableError",
            },
        }
        assert "on_llm_failure is 'fail'" in record_violation(record)
        configured = copy.deepcopy(record)
        configured["config_snapshot"]["generation"]["on_llm_failure"] = "fallback_to_factor_graph"
        assert record_violation(configured) is None

    def test_share_test_flags_five_percent_run_using_llm_always(self, tmp_path):
        """The binomial test catches a 5% configuration that used the LLM every time."""
        records = write_sample_trail(tmp_path / "a.jsonl", 50)
        path = tmp_path / "b.jsonl"
        injected = inject(records, "5% LLM configured, LLM used every time")
        path.write_text("".join(json.dumps(r) + "\n" for r in injected))
        report = verify_trail(path)
        assert not report.breaks
        assert not report.violations.records
        assert any(t.violated and t.expected_rate == 0.05 for t in report.violations.shares)

    def test_violation_flag_is_set_at_write_time(self, tmp_path):
        """The writer flags a record whose method contradicts its configuration."""
        snap = sample_snapshot(use_factor_graph=True, rate=0.0)
        decision = decide(None, 0.0, 0.5)
        outcome = GenerationOutcome(
            "procedural",
            decision,
            "procedural",
            "factor_graph",
            None,
            error_type="LLMUnavailableError",
            error_message="down",
        )
        record = _audited(outcome, snap)
        with AuditTrail(
            AuditConfig(path=str(tmp_path / "a.jsonl")), run_id="r", instance_id="i"
        ) as trail:
            written = trail.append(record)
        assert written["violation"] is True
        assert "use_factor_graph" in written["violation_reason"]

    def test_silent_fallback_under_phase1_is_a_violation(self):
        """Only the legacy path may fall back silently."""
        snap = sample_snapshot(use_factor_graph=False, rate=0.0)
        outcome = GenerationOutcome(
            "procedural",
            decide(False, 0.0, 0.2),
            "procedural",
            None,
            None,
            fallback=Fallback("silent", "llm", "factor_graph", "down", "LLMError"),
            error_type="LLMError",
            error_message="down",
        )
        record = _audited(outcome, snap)
        assert "silent fallback" in record_violation(record.body())


class TestWriter:
    def test_second_writer_is_refused(self, trail_path):
        """Two processes never share a trail: the second gets a clear error."""
        config = AuditConfig(path=str(trail_path))
        with AuditTrail(config, run_id="r", instance_id="i"):
            code = (
                "from stratloop.audit import AuditTrail\n"
                "from stratloop.config.models import AuditConfig\n"
                f"AuditTrail(AuditConfig(path={str(trail_path)!r}), run_id='r', instance_id='j')\n"
            )
            result = subprocess.run(
                [sys.executable, "-c", code], capture_output=True, text=True, check=False
            )
        assert result.returncode != 0
        assert "in use by another process" in result.stderr

    def test_torn_last_line_is_moved_aside_and_reported(self, trail_path):
        """A crash mid-write leaves a torn line; the next start moves it aside and says so."""
        write_sample_trail(trail_path, 5)
        with trail_path.open("ab") as handle:
            handle.write(b'{"seq": 5, "partial')
        report = verify_trail(trail_path)
        assert report.ok
        assert report.trails[0].torn
        written = write_sample_trail(trail_path, 2, start=5)
        assert written[0]["seq"] == 5
        torn_files = list(trail_path.parent.glob("*.torn"))
        assert [f.read_bytes() for f in torn_files] == [b'{"seq": 5, "partial']
        after = verify_trail(trail_path)
        assert after.ok
        assert after.record_count == 7
        assert "moved aside" in after.trails[0].torn[0]

    def test_disk_full_stops_with_audit_write_error(self, tmp_path):
        """ENOSPC on a real 64 KiB tmpfs raises AuditWriteError naming the fix; no torn line."""
        with tmpfs(tmp_path / "tiny", "size=64k") as mount:
            path = mount / "a.jsonl"
            with pytest.raises(AuditWriteError, match="free disk space") as caught:
                write_sample_trail(path, 1000, config=AuditConfig(path=str(path), fsync="always"))
            assert f"errno {errno.ENOSPC}" in str(caught.value)
            assert path.read_bytes().endswith(b"\n")

    def test_read_only_directory_is_an_error(self, tmp_path):
        """A read-only file system is a clear AuditWriteError at start."""
        with (
            tmpfs(tmp_path / "ro", "ro,size=64k") as mount,
            pytest.raises(AuditWriteError, match="read-only"),
        ):
            AuditTrail(AuditConfig(path=str(mount / "a.jsonl")), run_id="r", instance_id="i")

    def test_capture_records_sees_written_records(self, tmp_path):
        """capture_records yields each record as written, hash included."""
        with capture_records() as captured:
            written = write_sample_trail(tmp_path / "a.jsonl", 3)
        assert [dict(r) for r in captured] == written


class TestBackfill:
    def test_resume_reads_only_the_newest_files_holding_the_run(self, trail_path):
        """Backfill stops at the newest file with this run's records; older archives stay unread."""
        from stratloop.config.models import StratloopConfig  # noqa: PLC0415
        from stratloop.loop import RunAudit  # noqa: PLC0415

        audit = AuditConfig(path=str(trail_path), fsync="never", rotate_max_bytes=6_000)
        write_sample_trail(trail_path, 10, config=audit)
        oldest = sorted(trail_path.parent.glob("learning_audit.*.jsonl.zst"))[0]
        oldest.write_bytes(b"not zstd: reading this archive would fail")
        config = StratloopConfig.model_validate(
            {
                "version": 1,
                "generation": {"use_factor_graph": None, "innovation_rate": 20.0},
                "audit": audit.model_dump(),
            }
        )
        run_audit = RunAudit(config, run_id="run-1", instance_id="inst-1", path=trail_path)
        try:
            assert run_audit.backfill([record_at(9, audited=True)]) == 0
        finally:
            run_audit.close()


class TestIntegration:
    def test_rotation_compression_and_retention(self, trail_path):
        """Size rotation compresses archives, retention logs what it deletes, verify stays clean."""
        config = AuditConfig(
            path=str(trail_path), fsync="batch", rotate_max_bytes=20_000, retention_files=3
        )
        write_sample_trail(trail_path, 120, config=config)
        archives = sorted(trail_path.parent.glob("learning_audit.*.jsonl.zst"))
        assert len(archives) == 3
        report = verify_trail(trail_path)
        assert report.ok, report.breaks
        trail = report.trails[0]
        assert trail.records + trail.retained_records == 120
        assert trail.retention

    def test_daily_rotation(self, trail_path):
        """Records of a new UTC day start a new file."""
        config = AuditConfig(path=str(trail_path), fsync="never")
        write_sample_trail(trail_path, 120, config=config, clock=StepClock())
        days = {
            _lines_any(p)[0]["timestamp"][:10]
            for p in trail_path.parent.glob("*.jsonl*")
            if not p.name.endswith((".head", ".lock", ".checkpoints.jsonl"))
        }
        assert days == {"2025-11-11", "2025-11-12"}
        assert verify_trail(trail_path).ok

    def test_crash_mid_write_then_restart(self, trail_path):
        """SIGKILL mid-write, restart, finish: verify is clean, each committed record there once."""
        code = f"""
import sys
from pathlib import Path
from stratloop.acceptance.audit_samples import sample_record, sample_snapshot
from stratloop.audit import AuditTrail
from stratloop.audit._canonical import canonical_json, digest
from stratloop.config.models import AuditConfig
snap = sample_snapshot()
snap["padding"] = "x" * 4_000_000
h = digest(canonical_json(snap))
trail = AuditTrail(AuditConfig(path={str(trail_path)!r}, fsync="always", rotate_max_bytes=10**9),
                   run_id="r", instance_id="i")
start = trail.head[0] + 1
for i in range(start, start + 10_000):
    r = sample_record(i, run_id="r", instance_id="i", config_snapshot=snap, config_hash=h)
    w = trail.append(r)
    print(w["seq"], flush=True)
"""
        committed: list[int] = []
        torn = 0
        for _ in range(2):
            with subprocess.Popen(
                [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True
            ) as child:
                assert child.stdout is not None
                committed += [int(child.stdout.readline()) for _ in range(3)]
                time.sleep(0.005)
                child.send_signal(signal.SIGKILL)
                committed += [int(x) for x in child.stdout.read().split()]
            torn += bool(verify_trail(trail_path).trails[0].torn)
        write_sample_trail(trail_path, 1, start=0, run_id="r", instance_id="i")
        report = verify_trail(trail_path)
        assert not report.breaks, report.breaks
        seqs = [r["seq"] for r in _lines_any(trail_path, complete_only=True)]
        assert sorted(set(seqs)) == seqs
        assert set(committed) <= set(seqs), f"torn lines seen after kills: {torn}"

    def test_report_has_every_section(self, tmp_path):
        """The HTML report is self-contained and states 0 violations."""
        write_sample_trail(tmp_path / "a.jsonl", 40)
        out = tmp_path / "report.html"
        data = write_report([tmp_path / "a.jsonl"], out)
        html = out.read_text()
        for section_id, _ in data.sections:
            assert f'id="{section_id}"' in html
        assert "0 violations" in html
        assert not re.search(r'(src|href)="(https?:)?//', html)
        assert "<script" not in html

    def test_query_over_current_and_compressed_archives(self, trail_path):
        """DuckDB sees every record of every archive through the audit view."""
        config = AuditConfig(path=str(trail_path), rotate_max_bytes=20_000, retention_files=100)
        write_sample_trail(trail_path, 50, config=config)
        result = query_trail([trail_path], "SELECT count(*), min(seq), max(seq) FROM audit")
        assert result.rows == ((50, 0, 49),)


def _lines_any(path: Path, *, complete_only: bool = False) -> list[dict]:
    data = read_content(path)
    parts = data.split(b"\n")
    if complete_only:
        parts = parts[:-1]
    return [json.loads(p) for p in parts if p]


@pytest.fixture
def trail_path(tmp_path: Path) -> Path:
    return tmp_path / "audit" / "learning_audit.jsonl"
