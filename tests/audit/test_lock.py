"""One writer per audit trail, whatever happens to lock files (issue 13, item 1)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from stratloop.acceptance.audit_samples import sample_record, sample_snapshot
from stratloop.audit import AuditTrail, verify_trail
from stratloop.audit._canonical import canonical_json, digest
from stratloop.audit._files import TrailFiles
from stratloop.config.models import AuditConfig
from stratloop.errors import AuditWriteError


def _open(path: Path, run_id: str = "r", **audit: Any) -> AuditTrail:
    return AuditTrail(AuditConfig(path=str(path), **audit), run_id=run_id, instance_id="i")


def _append(trail: AuditTrail, iteration: int) -> None:
    snap = sample_snapshot()
    trail.append(
        sample_record(
            iteration,
            run_id=trail.run_id,
            instance_id="i",
            config_snapshot=snap,
            config_hash=digest(canonical_json(snap)),
        )
    )


class TestTrailLock:
    def test_a_second_writer_is_refused_with_the_first_named(self, tmp_path: Path) -> None:
        """The error names the trail and the writing process."""
        path = tmp_path / "trail.jsonl"
        with _open(path), pytest.raises(AuditWriteError) as caught:
            _open(path, run_id="other")
        message = str(caught.value)
        assert f"audit trail {path} is in use by another process (pid {os.getpid()} on" in message
        assert "give each instance its own audit.path" in message

    def test_deleting_the_lock_file_does_not_let_a_second_writer_in(self, tmp_path: Path) -> None:
        """With ``.lock`` gone, the second writer still contends for the head file and loses."""
        path = tmp_path / "trail.jsonl"
        files = TrailFiles(path, ())
        with _open(path) as first:
            _append(first, 0)
            files.lock.unlink()
            with pytest.raises(AuditWriteError) as caught:
                _open(path, run_id="other")
            assert f"(pid {os.getpid()}, per /proc/locks)" in str(caught.value)
            assert str(files.head) in str(caught.value)
            _append(first, 1)
        assert not verify_trail(path).breaks

    def test_the_lock_survives_rotation(self, tmp_path: Path) -> None:
        """Rotation renames the live file, never the head: a second writer is still refused."""
        path = tmp_path / "trail.jsonl"
        with _open(path, rotate_max_bytes=4096) as first:
            for iteration in range(12):
                _append(first, iteration)
            assert TrailFiles.of(path).archives
            TrailFiles(path, ()).lock.unlink()
            with pytest.raises(AuditWriteError, match="in use by another process"):
                _open(path, run_id="other")
            _append(first, 12)
        assert not verify_trail(path).breaks

    def test_a_writer_whose_head_file_was_taken_stops_naming_the_other(
        self, tmp_path: Path
    ) -> None:
        """Lock and head files deleted, a second writer gets in: the first appends nothing more."""
        path = tmp_path / "trail.jsonl"
        files = TrailFiles(path, ())
        first = _open(path)
        try:
            _append(first, 0)
            files.lock.unlink()
            files.head.unlink()
            with _open(path, run_id="other") as second:
                with pytest.raises(AuditWriteError) as caught:
                    _append(first, 1)
                message = str(caught.value)
                assert f"its head file {files.head} was replaced by another file" in message
                assert f"{second._lock.writer} now writes it" in message
                with pytest.raises(AuditWriteError):
                    _append(first, 2)
                _append(second, 1)
        finally:
            with pytest.raises(AuditWriteError, match="was replaced by another file"):
                first.close()
        lines = path.read_text().splitlines()
        assert len(lines) == 2

    def test_the_lock_is_released_at_close(self, tmp_path: Path) -> None:
        """A closed trail can be opened again at once, by this process or another."""
        path = tmp_path / "trail.jsonl"
        with _open(path) as first:
            _append(first, 0)
        with _open(path) as again:
            _append(again, 1)
        assert not verify_trail(path).breaks
