"""TrailFollower: each refresh reads what was appended and gives the verdict of a full verify."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import gzip
import json
import os
import tempfile
import threading
from pathlib import Path
from typing import Any

import pytest
import zstandard
from hypothesis import event, given, settings
from hypothesis import strategies as st

from stratloop.acceptance.audit_drills import inject, rechain
from stratloop.acceptance.audit_samples import sample_record, sample_snapshot, write_sample_trail
from stratloop.audit import AuditTrail, TrailFollower, VerifyReport, follow, verify_trail
from stratloop.audit._canonical import canonical_json, digest
from stratloop.audit._files import TrailFiles, archive_name, read_content
from stratloop.audit.testing import StepClock
from stratloop.config.models import AuditConfig
from stratloop.errors import AuditFormatError


@functools.cache
def _stream() -> bytes:
    """The lines of a real writer's 24 records, one of them a violation, re-chained."""
    with tempfile.TemporaryDirectory() as directory:
        records = write_sample_trail(Path(directory) / "pool.jsonl", 24)
    injected = inject(records, "method used differs without a fallback")
    return b"".join((json.dumps(r, sort_keys=True) + "\n").encode() for r in injected)


class _Trail:
    """A trail built byte by byte: appends, writer-style rotations, tampering, truncation."""

    def __init__(self, directory: Path, stream: bytes) -> None:
        self.live = directory / "t.jsonl"
        self.live.write_bytes(b"")
        self.stream = stream
        self.pos = 0
        self.verified: dict[str, int] = {}

    def files(self) -> tuple[Path, ...]:
        return TrailFiles.of(self.live).ordered

    def append(self, size: int) -> bool:
        with self.live.open("ab") as handle:
            handle.write(self.stream[self.pos : self.pos + size])
        self.pos += size
        return False

    def rotate(self, compress: bool, whole_lines: bool) -> bool:
        """Rename the live file to the archive named for its first record, as the writer does.

        ``whole_lines`` first completes the line being appended (the writer
        rotates between lines); otherwise the archive may end in a torn line.
        """
        if whole_lines:
            self.append(self.stream.find(b"\n", self.pos) + 1 - self.pos)
        content = self.live.read_bytes()
        seq = _first_seq(content)
        if seq is None:
            return False
        archive = self.live.with_name(archive_name("t", seq, compressed=compress))
        if any(self.live.parent.glob(f"t.{seq:012d}.jsonl*")):
            return False
        if compress:
            archive.write_bytes(zstandard.ZstdCompressor().compress(content))
            self.live.unlink()
        else:
            self.live.rename(archive)
        self.verified[archive.name] = self.verified.pop(self.live.name, 0)
        self.live.write_bytes(b"")
        return False

    def tamper(self, where: float, which: int) -> bool:
        """Flip one bit of a file in place; True when the bit was already verified."""
        files = self.files()
        path = files[-1 - which % len(files)]
        content = bytearray(read_content(path))
        if not content:
            return False
        offset = int(where * len(content))
        content[offset] ^= 0x01
        if path.suffix == ".zst":
            path.write_bytes(zstandard.ZstdCompressor().compress(bytes(content)))
        else:
            with path.open("r+b") as handle:
                handle.seek(offset)
                handle.write(content[offset : offset + 1])
        return offset < self.verified.get(path.name, 0)

    def truncate(self, size: int) -> bool:
        """Cut the live file short; True when verified bytes were cut."""
        left = max(0, self.live.stat().st_size - size)
        os.truncate(self.live, left)
        return left < self.verified.get(self.live.name, 0)

    def note_verified(self) -> None:
        """After a refresh: archives are verified to their end, the live file to its last line."""
        for path in self.files():
            content = read_content(path)
            final = path != self.live
            self.verified[path.name] = len(content) if final else content.rfind(b"\n") + 1


def _first_seq(content: bytes) -> int | None:
    for line in content.split(b"\n")[:-1]:
        try:
            seq = json.loads(line)["seq"]
        except (ValueError, TypeError, KeyError):
            continue
        if isinstance(seq, int) and seq >= 0:
            return seq
    return None


_APPEND = st.tuples(st.just("append"), st.integers(1, 6000)) | st.tuples(
    st.just("append"), st.integers(1, 800)
)
_ROTATE = st.tuples(st.just("rotate"), st.booleans(), st.booleans())
_DAMAGE = st.tuples(
    st.just("tamper"), st.floats(0, 1, exclude_max=True), st.integers(0, 3)
) | st.tuples(st.just("truncate"), st.integers(1, 3000))


def _follow_and_compare(trail: _Trail, ops: list[tuple[Any, ...]]) -> None:
    """Apply each op, refresh, and compare with a full verify; edits must restart the follower."""
    follower = TrailFollower(trail.live)
    report = follower.refresh()
    trail.note_verified()
    clean = True
    for op, *args in ops:
        hit_verified = getattr(trail, op)(*args)
        clean = clean and op in {"append", "rotate"}
        rewrites = len(report.rewrites)
        report = follower.refresh()
        assert report.verify == verify_trail(trail.live)
        event(f"{op}{' of verified bytes' if hit_verified else ''}")
        event(f"{len(report.verify.trails[0].files)} files, breaks: {bool(report.verify.breaks)}")
        if hit_verified:
            assert report.from_scratch is not None
            assert len(report.rewrites) == rewrites + 1
        if clean:
            assert (report.from_scratch, report.rewrites) == (None, ())
        trail.note_verified()


class TestSameVerdictAsAFullVerify:
    @settings(max_examples=60, deadline=None)
    @given(ops=st.lists(_APPEND | _APPEND | _APPEND | _ROTATE, min_size=4, max_size=30))
    def test_random_appends_torn_lines_and_rotations(self, tmp_path_factory, ops):
        """Appends cut anywhere (torn lines completed later) and rotations: never a restart."""
        _follow_and_compare(_Trail(tmp_path_factory.mktemp("follow"), _stream()), ops)

    @settings(max_examples=60, deadline=None)
    @given(ops=st.lists(_APPEND | _APPEND | _ROTATE | _DAMAGE, min_size=4, max_size=30))
    def test_tampering_and_truncation_among_appends(self, tmp_path_factory, ops):
        """Edited or cut bytes already verified: the follower restarts, says why, still agrees."""
        _follow_and_compare(_Trail(tmp_path_factory.mktemp("follow"), _stream()), ops)

    def test_a_torn_line_completed_later_is_verified_once_complete(self, tmp_path):
        """Half a line is torn (not verified); once its newline arrives it is one record."""
        stream = _stream()
        trail = _Trail(tmp_path, stream)
        follower = TrailFollower(trail.live)
        first_line = stream.index(b"\n") + 1
        trail.append(first_line + 100)
        torn = follower.refresh()
        assert torn.verify.record_count == 1
        assert torn.verify.trails[0].torn[0].startswith(f"{trail.live}:2: torn last line (100 ")
        trail.append(stream.index(b"\n", first_line) + 1 - trail.pos)
        done = follower.refresh()
        assert (done.verify.record_count, done.verify.trails[0].torn, done.appended) == (2, (), 1)
        assert done.verify == verify_trail(trail.live)


def _append(trail: AuditTrail, iteration: int, snap: dict[str, Any]) -> None:
    trail.append(
        sample_record(
            iteration,
            run_id=trail.run_id,
            instance_id=trail.instance_id,
            config_snapshot=snap,
            config_hash=digest(canonical_json(snap)),
        )
    )


def _as_compressed(report: VerifyReport) -> VerifyReport:
    """``report`` with every plain archive named as its ``.zst``.

    The writer compresses rotated archives on a background thread, so a report made a moment
    later may name the same archive compressed; the verdict is what must agree.
    """
    trails = tuple(
        dataclasses.replace(
            trail,
            files=tuple(
                f.with_name(f.name + ".zst") if f != trail.live and f.suffix == ".jsonl" else f
                for f in trail.files
            ),
        )
        for trail in report.trails
    )
    return dataclasses.replace(report, trails=trails)


class TestFollowTheRealWriter:
    @pytest.mark.parametrize("compress", [True, False])
    def test_size_and_daily_rotations_while_the_writer_appends(self, tmp_path, compress):
        """Refreshing between appends through rotations: full-verify verdict, never from scratch."""
        path = tmp_path / "learning_audit.jsonl"
        config = AuditConfig(
            path=str(path),
            fsync="batch",
            batch_records=4,
            batch_interval_s=0.01,
            rotate_max_bytes=9_000,
            compress=compress,
            retention_files=100,
        )
        clock = StepClock(step=dt.timedelta(minutes=7))
        snap = sample_snapshot()
        follower = TrailFollower(path, run_id="r")
        seen: list[int] = []
        with AuditTrail(config, run_id="r", instance_id="i", clock=clock) as trail:
            for iteration in range(60):
                _append(trail, iteration, snap)
                if iteration % 4 == 1:
                    report = follower.refresh(lambda record: seen.append(record["seq"]))
                    assert _as_compressed(report.verify) == _as_compressed(verify_trail(path))
                    assert report.from_scratch is None or iteration == 1
        report = follower.refresh(lambda record: seen.append(record["seq"]))
        assert report.verify == verify_trail(path)
        assert report.verify.ok
        assert len(report.verify.trails[0].files) > 4
        assert (report.from_scratch, report.rewrites) == (None, ())
        assert seen == list(range(60))
        assert (report.run_iterations, report.runs) == (60, {"r": 60})

    def test_refreshing_while_another_thread_writes_and_rotates(self, tmp_path):
        """The service's case: a writer thread rotating and gzipping while refreshes run."""
        path = tmp_path / "learning_audit.jsonl"
        config = AuditConfig(
            path=str(path),
            fsync="batch",
            batch_interval_s=0.005,
            rotate_max_bytes=20_000,
            retention_files=1000,
        )
        snap = sample_snapshot()
        follower = TrailFollower(path, run_id="r")
        seen: list[int] = []
        with AuditTrail(config, run_id="r", instance_id="i") as trail:

            def write() -> None:
                for iteration in range(400):
                    _append(trail, iteration, snap)

            follower.refresh()
            writer = threading.Thread(target=write)
            writer.start()
            while writer.is_alive():
                report = follower.refresh(lambda record: seen.append(record["seq"]))
                assert report.rewrites == ()
            writer.join()
        report = follower.refresh(lambda record: seen.append(record["seq"]))
        assert report.verify == verify_trail(path)
        assert report.verify.ok
        assert len(report.verify.trails[0].files) > 20
        assert seen == list(range(400))

    def test_aggregates_match_the_records_of_a_full_verify(self, tmp_path):
        """Records per run, the followed run's iterations and the timestamp span are exact."""
        path = tmp_path / "learning_audit.jsonl"
        config = AuditConfig(path=str(path), fsync="never", rotate_max_bytes=7_000)
        follower = TrailFollower(path, run_id="b")
        write_sample_trail(path, 7, config=config, run_id="a")
        follower.refresh()
        write_sample_trail(path, 9, config=config, run_id="b", start=3)
        write_sample_trail(path, 2, config=config, run_id="b", start=3)
        report = follower.refresh()
        records = verify_trail(path, keep_records=True).records
        stamps = sorted(r["timestamp"] for r in records)
        assert report.runs == {"a": 7, "b": 11}
        assert report.run_iterations == len(
            {r["iteration_num"] for r in records if r["run_id"] == "b"}
        )
        assert (report.first_timestamp, report.last_timestamp) == (stamps[0], stamps[-1])
        assert report.appended == 11

    def test_retention_restarts_without_calling_it_a_rewrite(self, tmp_path):
        """Archives deleted by retention (and logged) restart the follower, which says why."""
        path = tmp_path / "learning_audit.jsonl"
        config = AuditConfig(
            path=str(path), fsync="never", rotate_max_bytes=6_000, retention_files=2
        )
        follower = TrailFollower(path)
        write_sample_trail(path, 8, config=config)
        follower.refresh()
        write_sample_trail(path, 20, config=config, start=8)
        report = follower.refresh()
        assert report.from_scratch is not None
        assert report.from_scratch.startswith("retention deleted learning_audit.")
        assert report.rewrites == ()
        assert report.verify == verify_trail(path)
        assert report.verify.ok

    def test_torn_tail_moved_aside_by_a_restarted_writer(self, tmp_path):
        """A crash's torn line is reported, then moved aside by the next writer: no restart."""
        path = tmp_path / "learning_audit.jsonl"
        config = AuditConfig(path=str(path), fsync="never")
        follower = TrailFollower(path)
        write_sample_trail(path, 3, config=config)
        with path.open("ab") as handle:
            handle.write(b'{"schema_version": 1, "seq": 3, "iter')
        assert follower.refresh().verify.trails[0].torn
        write_sample_trail(path, 2, config=config, start=3)
        report = follower.refresh()
        assert report.verify == verify_trail(path)
        assert "moved aside at start" in report.verify.trails[0].torn[0]
        assert (report.from_scratch, report.rewrites, report.appended) == (None, (), 2)

    def test_head_moved_back_is_a_rewrite(self, tmp_path):
        """A head file naming an earlier seq than before is not the writer's doing: restart."""
        path = tmp_path / "learning_audit.jsonl"
        written = write_sample_trail(path, 5)
        head = path.with_name(path.name + ".head")
        follower = TrailFollower(path)
        follower.refresh()
        head.write_text(f"{1:020d} {written[1]['hash']}\n")
        report = follower.refresh()
        assert report.rewrites == ("the head file moved back from seq 4 to seq 1",)
        assert report.verify == verify_trail(path)

    def test_only_hashes_the_head_file_does_not_cover_are_kept(self, tmp_path):
        """Memory for head checks is the records not yet durable, not the trail."""
        path = tmp_path / "learning_audit.jsonl"
        config = AuditConfig(path=str(path), fsync="always")
        follower = TrailFollower(path)
        write_sample_trail(path, 50, config=config)
        follower.refresh()
        follower.refresh()
        assert follower._state is not None
        assert follower._state.walk._hashes.keys() == {49}

    def test_live_file_missing_between_rename_and_new_file(self, tmp_path):
        """Right after the writer renames the live file the trail is its archives."""
        path = tmp_path / "learning_audit.jsonl"
        follower = TrailFollower(path)
        write_sample_trail(path, 4)
        follower.refresh()
        path.rename(path.with_name(archive_name("learning_audit", 0, compressed=False)))
        report = follower.refresh()
        assert (report.from_scratch, report.verify.record_count) == (None, 4)
        assert report.verify.trails[0].files == (tmp_path / "learning_audit.000000000000.jsonl",)
        # The checkpoint log still names the trail, so a missing live file is not "no trail".
        assert report.verify == verify_trail(path)

    def test_an_unreadable_known_archive_fails_the_refresh_but_keeps_the_state(self, tmp_path):
        """Nothing new was verified when the look failed: once readable again, no restart."""
        path = tmp_path / "learning_audit.jsonl"
        config = AuditConfig(path=str(path), fsync="never", rotate_max_bytes=6_000)
        follower = TrailFollower(path)
        write_sample_trail(path, 6, config=config)
        follower.refresh()
        archive = TrailFiles.of(path).archives[0]
        good = archive.read_bytes()
        archive.write_bytes(good[:40])
        with pytest.raises(AuditFormatError, match="cannot read audit file"):
            follower.refresh()
        archive.write_bytes(good)
        report = follower.refresh()
        assert (report.from_scratch, report.rewrites) == (None, ())
        assert report.verify == verify_trail(path)

    def test_a_refresh_failing_while_verifying_starts_over_and_says_why(self, tmp_path):
        """A new archive that cannot be read mid-refresh: the next refresh verifies it all."""
        path = tmp_path / "learning_audit.jsonl"
        config = AuditConfig(path=str(path), fsync="never", rotate_max_bytes=6_000)
        follower = TrailFollower(path)
        write_sample_trail(path, 6, config=config)
        known = set(TrailFiles.of(path).archives)
        follower.refresh()
        write_sample_trail(path, 6, config=config, start=6)
        unseen = [a for a in TrailFiles.of(path).archives if a not in known]
        assert len(unseen) > 1
        good = unseen[-1].read_bytes()
        unseen[-1].write_bytes(good[:40])
        with pytest.raises(AuditFormatError, match="cannot read audit file"):
            follower.refresh()
        unseen[-1].write_bytes(good)
        report = follower.refresh()
        assert report.from_scratch is not None
        assert report.from_scratch.startswith("the previous refresh failed (AuditFormatError")
        assert report.verify == verify_trail(path)

    def test_a_directory_of_several_trails_is_refused(self, tmp_path):
        """One follower follows one trail; the error lists the live files to choose from."""
        write_sample_trail(tmp_path / "a.jsonl", 1)
        write_sample_trail(tmp_path / "b.jsonl", 1)
        with pytest.raises(AuditFormatError, match="holds 2 audit trails"):
            TrailFollower(tmp_path).refresh()

    def test_concurrent_refreshes_are_serialised(self, tmp_path):
        """Two threads refreshing at once see each record once between them."""
        path = tmp_path / "learning_audit.jsonl"
        write_sample_trail(path, 30)
        follower = TrailFollower(path)
        appended: list[int] = []

        def refresh() -> None:
            appended.append(follower.refresh().appended)

        threads = [threading.Thread(target=refresh) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(appended) == [0, 30]

    def test_rechained_history_is_caught_as_a_rewrite(self, tmp_path):
        """Rewriting the whole trail consistently fools a full verify but not the follower."""
        path = tmp_path / "learning_audit.jsonl"
        written = write_sample_trail(path, 4, config=AuditConfig(path=str(path), fsync="never"))
        path.with_name(path.name + ".head").unlink()
        path.with_name("learning_audit.checkpoints.jsonl").unlink()  # unsigned: anyone can
        follower = TrailFollower(path)
        follower.refresh()
        forged = rechain([{**r, "run_id": "forged"} for r in written])
        path.write_text("".join(json.dumps(r) + "\n" for r in forged))
        report = follower.refresh()
        assert verify_trail(path).ok
        assert report.verify.ok
        assert len(report.rewrites) == 1

    def test_files_stat_vouches_for_are_not_read_again(self, tmp_path, monkeypatch):
        """Archives whose stamp is old enough to trust are not re-read by a quiet refresh."""
        path = tmp_path / "learning_audit.jsonl"
        config = AuditConfig(path=str(path), fsync="never", rotate_max_bytes=6_000)
        write_sample_trail(path, 8, config=config)
        monkeypatch.setattr(follow, "_RACY_NS", 0)
        reads: list[Path] = []
        real = follow.load_archive

        def counted(file: Path) -> tuple[Path, bytes]:
            reads.append(file)
            return real(file)

        monkeypatch.setattr(follow, "load_archive", counted)
        follower = TrailFollower(path)
        follower.refresh()
        archives = len(TrailFiles.of(path).archives)
        assert len(reads) == archives > 1
        quiet = follower.refresh()
        assert (len(reads), quiet.appended, quiet.from_scratch) == (archives, 0, None)
        assert quiet.verify == verify_trail(path)

    def test_a_plain_archive_compressed_meanwhile_is_read_as_its_gz(self, tmp_path):
        """Listed plain, gone by the time it is read: its .gz twin holds the same lines."""
        plain = tmp_path / "t.000000000000.jsonl"
        packed = plain.with_name(plain.name + ".gz")
        packed.write_bytes(gzip.compress(b"line\n", mtime=0))
        assert follow.load_archive(plain) == (packed, packed.read_bytes())
        with pytest.raises(AuditFormatError, match="cannot read audit file"):
            follow.load_archive(tmp_path / "t.000000000009.jsonl")
