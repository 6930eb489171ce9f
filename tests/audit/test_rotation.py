"""Rotation and retention: a file per UTC day, archives named by first seq, audited deletes."""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from stratloop.acceptance.audit_samples import sample_record, sample_snapshot, write_sample_trail
from stratloop.audit import AuditTrail, verify_trail
from stratloop.audit._canonical import canonical_json, digest
from stratloop.audit._files import read_retention
from stratloop.audit.testing import StepClock
from stratloop.config.models import AuditConfig
from stratloop.errors import AuditWriteError


class TestDailyRotation:
    def test_each_file_holds_one_utc_day_and_is_named_for_its_first_seq(self, tmp_path):
        """Crossing midnight UTC rotates; the archive is named for its first record's seq."""
        path = tmp_path / "learning_audit.jsonl"
        clock = StepClock(dt.datetime(2025, 11, 11, 21, 30, tzinfo=dt.UTC), dt.timedelta(hours=1))
        config = AuditConfig(path=str(path), fsync="never", compress=False)
        write_sample_trail(path, 6, config=config, clock=clock)
        archive = tmp_path / "learning_audit.000000000000.jsonl"
        days = [json.loads(line)["timestamp"][:10] for line in archive.read_text().splitlines()]
        assert days == ["2025-11-11", "2025-11-11"]
        live = [json.loads(line) for line in path.read_text().splitlines()]
        assert [r["seq"] for r in live] == [2, 3, 4, 5]
        assert {r["timestamp"][:10] for r in live} == {"2025-11-12"}
        assert verify_trail(path).ok


class TestRetention:
    def _rotated(self, path: Path, **audit: Any) -> AuditConfig:
        config = AuditConfig(path=str(path), fsync="never", rotate_max_bytes=6_000, **audit)
        write_sample_trail(path, 12, config=config)
        return config

    def test_archives_older_than_retention_days_are_deleted_and_logged(self, tmp_path):
        """At the next rotation, archives past retention_days go, each logged with its seqs."""
        path = tmp_path / "learning_audit.jsonl"
        config = self._rotated(path, retention_days=1)
        old = sorted(tmp_path.glob("learning_audit.*.jsonl.zst"))
        assert old
        stale = time.time() - 3 * 86_400
        for archive in old:
            os.utime(archive, (stale, stale))
        write_sample_trail(path, 12, config=config, start=12)
        assert not any(archive.exists() for archive in old)
        entries = read_retention(tmp_path / "learning_audit.retention.jsonl")
        assert [entry["file"] for entry in entries] == [archive.name for archive in old]
        assert {entry["reason"] for entry in entries} == {"retention_days=1"}
        assert entries[0]["first_seq"] == 0
        report = verify_trail(path)
        assert report.ok, report.breaks
        assert report.trails[0].records + report.trails[0].retained_records == 24

    def test_fresh_archives_survive_age_retention(self, tmp_path):
        """Archives younger than retention_days are kept."""
        path = tmp_path / "learning_audit.jsonl"
        self._rotated(path, retention_days=1)
        assert sorted(tmp_path.glob("learning_audit.*.jsonl.zst"))
        assert not (tmp_path / "learning_audit.retention.jsonl").exists()

    def test_retention_files_keeps_the_newest_archives(self, tmp_path):
        """Beyond retention_files, the oldest archives are deleted first."""
        path = tmp_path / "learning_audit.jsonl"
        config = AuditConfig(
            path=str(path), fsync="never", rotate_max_bytes=6_000, retention_files=2
        )
        write_sample_trail(path, 30, config=config)
        kept = sorted(tmp_path.glob("learning_audit.*.jsonl.zst"))
        entries = read_retention(tmp_path / "learning_audit.retention.jsonl")
        assert len(kept) == 2
        assert {entry["reason"] for entry in entries} == {"retention_files=2"}
        assert max(entry["last_seq"] for entry in entries) < min(
            int(archive.name.split(".")[1]) for archive in kept
        )
        assert verify_trail(path).ok


class TestBackgroundCompression:
    def test_archives_are_compressed_by_close_and_none_stays_plain(self, tmp_path):
        """Compression runs beside the writer, but a closed trail has only .zst archives."""
        path = tmp_path / "learning_audit.jsonl"
        config = AuditConfig(path=str(path), fsync="never", rotate_max_bytes=6_000)
        write_sample_trail(path, 30, config=config)
        assert len(sorted(tmp_path.glob("learning_audit.*.jsonl.zst"))) > 2
        assert not list(tmp_path.glob("learning_audit.[0-9]*.jsonl"))
        assert not list(tmp_path.glob("*.tmp"))
        assert verify_trail(path).ok

    def test_a_failed_compression_is_raised_not_dropped(self, tmp_path):
        """The background thread's failure reaches the writer as an AuditWriteError."""
        path = tmp_path / "learning_audit.jsonl"
        config = AuditConfig(path=str(path), fsync="never", rotate_max_bytes=6_000)
        snap = sample_snapshot()
        snap_hash = digest(canonical_json(snap))
        records = [
            sample_record(
                iteration,
                run_id="run-1",
                instance_id="inst-1",
                config_snapshot=snap,
                config_hash=snap_hash,
            )
            for iteration in range(30)
        ]

        def write() -> None:
            with AuditTrail(config, run_id="run-1", instance_id="inst-1") as trail:
                (tmp_path / "learning_audit.000000000000.jsonl.zst.tmp").mkdir()
                for record in records:
                    trail.append(record)

        with pytest.raises(AuditWriteError, match="could not compress the audit archive at"):
            write()
        assert (tmp_path / "learning_audit.000000000000.jsonl").exists()
