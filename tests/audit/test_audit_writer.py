"""AuditTrail and render: the canonical line, and the appender's fsync policies and group commit."""

from __future__ import annotations

import errno
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from disk_helpers import tmpfs
from stratloop.acceptance.audit_samples import sample_record, sample_snapshot, write_sample_trail
from stratloop.audit import AuditTrail, _appender, verify_trail
from stratloop.audit._canonical import canonical_json, digest
from stratloop.audit._files import read_head
from stratloop.audit.processors import render
from stratloop.config.models import AuditConfig
from stratloop.errors import AuditWriteError

_JSON_LEAF = st.none() | st.booleans() | st.integers() | st.text(max_size=12)
_JSON = st.recursive(
    _JSON_LEAF,
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=12,
)


def _head(path: Path) -> int:
    """The durable seq the head sidecar names (-1 before the first commit)."""
    head = read_head(path.with_name(path.name + ".head"))
    return -1 if head is None else head[0]


def _open_fds() -> set[str]:
    """This process's open descriptors."""
    return {entry.name for entry in Path("/proc/self/fd").iterdir()}


def _trail(path: Path, **audit: Any) -> tuple[AuditTrail, dict[str, Any], str]:
    snap = sample_snapshot()
    trail = AuditTrail(AuditConfig(path=str(path), **audit), run_id="r", instance_id="i")
    return trail, snap, digest(canonical_json(snap))


def _append(trail: AuditTrail, snap: dict[str, Any], snap_hash: str, iteration: int) -> None:
    trail.append(
        sample_record(
            iteration, run_id="r", instance_id="i", config_snapshot=snap, config_hash=snap_hash
        )
    )


class TestRender:
    @settings(max_examples=60, deadline=None)
    @given(snapshot=st.dictionaries(st.text(max_size=10), _JSON, max_size=5), extra=_JSON)
    def test_line_is_the_canonical_json_verify_recomputes(self, snapshot, extra):
        """The spliced line parses to the record, and its hash is sha256 of the rest."""
        record = {"config_hash": "h", "config_snapshot": snapshot, "z": extra, "a": "\x00é"}
        record_hash, line = render(record)
        assert line.endswith(b"\n")
        parsed = json.loads(line)
        assert parsed == {**record, "hash": record_hash}
        body = {key: value for key, value in parsed.items() if key != "hash"}
        assert digest(canonical_json(body)) == record_hash
        assert line == (canonical_json(body)[:-1] + f',"hash":"{record_hash}"}}\n').encode()

    def test_same_snapshot_object_renders_the_same_bytes_twice(self):
        """The cached snapshot bytes do not leak between different snapshots."""
        first = {"config_hash": "h", "config_snapshot": {"a": 1}}
        second = {"config_hash": "h", "config_snapshot": {"a": 2}}
        assert render(dict(first))[1] == render(dict(first))[1]
        assert b'"config_snapshot":{"a":2}' in render(second)[1]


class TestFsyncPolicies:
    def test_always_makes_each_record_durable_before_append_returns(self, tmp_path):
        """Under fsync=always the head file names every record as soon as it is appended."""
        path = tmp_path / "a.jsonl"
        trail, snap, snap_hash = _trail(path, fsync="always")
        with trail:
            for iteration in range(5):
                _append(trail, snap, snap_hash, iteration)
                assert _head(path) == iteration

    def test_batch_never_leaves_more_than_batch_records_undurable(self, tmp_path):
        """Under fsync=batch at most batch_records records ever await fdatasync."""
        path = tmp_path / "a.jsonl"
        trail, snap, snap_hash = _trail(path, fsync="batch", batch_records=4, batch_interval_s=3600)
        with trail:
            for iteration in range(40):
                _append(trail, snap, snap_hash, iteration)
                assert iteration - _head(path) <= 4
        assert _head(path) == 39

    def test_batch_interval_commits_a_lone_record(self, tmp_path):
        """One record under a large batch_records is durable within batch_interval_s."""
        path = tmp_path / "a.jsonl"
        trail, snap, snap_hash = _trail(
            path, fsync="batch", batch_records=1000, batch_interval_s=0.05
        )
        with trail:
            _append(trail, snap, snap_hash, 0)
            deadline = time.monotonic() + 5
            while _head(path) < 0 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert _head(path) == 0

    def test_flush_makes_pending_records_durable_now(self, tmp_path):
        """flush() commits what batch mode is still holding."""
        path = tmp_path / "a.jsonl"
        trail, snap, snap_hash = _trail(
            path, fsync="batch", batch_records=1000, batch_interval_s=3600
        )
        with trail:
            for iteration in range(3):
                _append(trail, snap, snap_hash, iteration)
            assert _head(path) == -1
            trail.flush()
            assert _head(path) == 2

    def test_never_records_the_head_only_at_close(self, tmp_path):
        """fsync=never writes the head file once, when the trail closes."""
        path = tmp_path / "a.jsonl"
        trail, snap, snap_hash = _trail(path, fsync="never")
        with trail:
            for iteration in range(3):
                _append(trail, snap, snap_hash, iteration)
            assert _head(path) == -1
        assert _head(path) == 2

    def test_concurrent_appends_with_group_commit_and_rotation_stay_chained(self, tmp_path):
        """Two threads appending through rotations while the flusher commits: verify is clean."""
        path = tmp_path / "learning_audit.jsonl"
        trail, snap, snap_hash = _trail(
            path, fsync="batch", batch_records=2, batch_interval_s=0.001, rotate_max_bytes=12_000
        )
        counter = iter(range(200))
        lock = threading.Lock()

        def work() -> None:
            while True:
                with lock:
                    iteration = next(counter, None)
                if iteration is None:
                    return
                _append(trail, snap, snap_hash, iteration)

        with trail:
            threads = [threading.Thread(target=work) for _ in range(2)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        report = verify_trail(path)
        assert report.breaks == ()
        assert report.trails[0].records + report.trails[0].retained_records == 200
        assert _head(path) == 199
        assert len(report.trails[0].files) > 2

    def test_rotations_under_batch_leave_no_descriptor_open(self, tmp_path):
        """Each rotation retires the flusher's descriptor; after close none is left open."""
        before = _open_fds()
        path = tmp_path / "learning_audit.jsonl"
        config = AuditConfig(
            path=str(path),
            fsync="batch",
            batch_records=2,
            batch_interval_s=0.001,
            rotate_max_bytes=6_000,
            retention_files=100,
        )
        write_sample_trail(path, 40, config=config)
        assert len(list(tmp_path.glob("learning_audit.*.jsonl.zst"))) > 5
        assert _open_fds() <= before
        assert verify_trail(path).ok

    @pytest.mark.parametrize("fsync", ["always", "never"])
    def test_rotation_never_leaves_a_stale_descriptor_to_close(self, tmp_path, monkeypatch, fsync):
        """After a rotation, close() closes the writer's own files, not one another part opened.

        A file another thread opens while the writer rotates takes the number
        the old live file had; the writer must not close it later.
        """
        others: list[int] = []
        original = _appender._open

        def open_after_someone_else(path: Path, *, append: bool = True) -> int:
            others.append(os.open(tmp_path / f"other-{len(others)}", os.O_WRONLY | os.O_CREAT))
            return original(path, append=append)

        monkeypatch.setattr(_appender, "_open", open_after_someone_else)
        path = tmp_path / "learning_audit.jsonl"
        config = AuditConfig(path=str(path), fsync=fsync, rotate_max_bytes=6_000)
        write_sample_trail(path, 12, config=config)
        assert len(others) > 2
        for fd in others:
            os.fstat(fd)
            os.close(fd)
        assert verify_trail(path).ok

    def test_disk_full_under_batch_stops_with_the_error_and_no_partial_line(self, tmp_path):
        """ENOSPC on a real 64 KiB tmpfs under fsync=batch: AuditWriteError, file ends cleanly."""
        with tmpfs(tmp_path / "tiny", "size=64k") as mount:
            path = mount / "a.jsonl"
            config = AuditConfig(path=str(path), fsync="batch", batch_records=8)
            with pytest.raises(AuditWriteError, match="free disk space") as caught:
                write_sample_trail(path, 1000, config=config)
            assert f"errno {errno.ENOSPC}" in str(caught.value)
            assert path.read_bytes().endswith(b"\n")
            assert not [t for t in threading.enumerate() if t.name == "audit-group-commit"]
