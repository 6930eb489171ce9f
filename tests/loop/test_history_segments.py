"""History rotation: closed xz segments plus the live file, read as one history by every reader."""

import dataclasses
import itertools
import json
import lzma
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from loop_helpers import factor_graph_source, hash_evaluator, loop_config
from typer.testing import CliRunner

from run_helpers import AUDIT_OFF as FLAGS
from stratloop.cli import app
from stratloop.errors import RunError
from stratloop.flags import EnvFlagSource
from stratloop.loop import history as history_module
from stratloop.loop.history import (
    HistoryWriter,
    count_committed,
    iter_history,
    list_segments,
    plan_repair,
    read_history,
    segment_name,
)
from stratloop.loop.inspect import describe_run
from stratloop.loop.repair import repair_run
from stratloop.loop.rundir import RunDir
from stratloop.loop.runner import LoopParts, LoopRunner, open_run
from stratloop.service.runs import RunReader

FIXTURE = Path(__file__).parents[1] / "fixtures" / "run_v1"
OLD_RUN = "20261206T200143Z-e45c8b"


def _parts():
    return LoopParts(
        factor_graph=factor_graph_source(), evaluator=hash_evaluator, flags=EnvFlagSource(FLAGS)
    )


@pytest.fixture
def small_segments(monkeypatch):
    """Segments of about four batches, so a short run rotates several times."""
    monkeypatch.setattr(history_module, "SEGMENT_BYTES", 6_000)


def _run(tmp_path, iterations):
    config = loop_config(tmp_path, iterations=iterations)
    LoopRunner.create(config, lambda _u: _parts(), run_id="r").run()
    return RunDir(tmp_path / "runs" / "r")


def _resume(tmp_path, iterations):
    rundir, config = open_run(tmp_path / "runs", "r")
    config = config.model_copy(
        update={"loop": config.loop.model_copy(update={"iterations": iterations})}
    )
    return LoopRunner.resume(rundir, config, lambda _u: _parts()).run()


def _all_lines(rundir):
    """Every committed line, segments first, as the run wrote them."""
    data = b""
    for segment in list_segments(rundir.history):
        data += lzma.decompress(segment.path.read_bytes())
    return (data + rundir.history.read_bytes()).splitlines(keepends=True)


@pytest.mark.usefixtures("small_segments")
class TestRotation:
    def test_a_run_rotates_into_segments_read_as_one_history(self, tmp_path):
        """40 iterations: several xz segments, a small live file, records 0-39 once each."""
        rundir = _run(tmp_path, 40)
        segments = list_segments(rundir.history)
        assert len(segments) >= 3
        assert segments[0].first == 0
        assert all(b.first == a.last + 1 for a, b in itertools.pairwise(segments))
        assert rundir.history.stat().st_size < 6_000 + 4 * 2_000
        assert [r.iteration_num for r in read_history(rundir.history).records] == list(range(40))
        assert count_committed(rundir.history) == 40
        assert [r.iteration_num for r in iter_history(rundir.history, 17)] == list(range(17, 40))

    def test_uninterrupted_and_rotated_runs_write_the_same_lines(self, tmp_path, monkeypatch):
        """Rotation changes where lines live, never what they say (timestamps and timings aside)."""
        rotated = read_history(_run(tmp_path / "a", 24).history).records
        monkeypatch.setattr(history_module, "SEGMENT_BYTES", 1 << 30)
        single = read_history(_run(tmp_path / "b", 24).history).records
        assert [r.comparable() for r in rotated] == [r.comparable() for r in single]

    def test_resume_continues_after_the_segments(self, tmp_path):
        """Stopped at 20 and resumed to 36: the same segments, then more, 0-35 once each."""
        rundir = _run(tmp_path, 20)
        before = list_segments(rundir.history)
        _resume(tmp_path, 36)
        after = list_segments(rundir.history)
        assert after[: len(before)] == before
        assert [r.iteration_num for r in read_history(rundir.history).records] == list(range(36))

    def test_show_and_the_service_read_through_segments(self, tmp_path):
        """`describe_run` counts, the service's fold and pages read every iteration."""
        rundir = _run(tmp_path, 30)
        assert describe_run(tmp_path / "runs", "r").iterations == 30
        reader = RunReader(tmp_path / "runs")
        assert reader.search("r").iterations == 30
        page, following = reader.history_page("r", 5, 10)
        assert [r.iteration_num for r in page] == list(range(5, 15))
        assert following == 15
        page, following = reader.history_page("r", 25, 10)
        assert [r.iteration_num for r in page] == list(range(25, 30))
        assert following is None
        shown = CliRunner().invoke(app, ["show", "r", "--runs-dir", str(tmp_path / "runs")])
        assert shown.exit_code == 0, shown.output
        assert "30/30 iterations" in shown.output
        assert rundir.history.exists()


@pytest.mark.usefixtures("small_segments")
class TestCrashMidRotation:
    def _half_rotated(self, rundir):
        """The state a kill between the segment's rename and the live file's truncation leaves."""
        lines = rundir.history.read_bytes().splitlines(keepends=True)
        first = json.loads(lines[0])["iteration_num"]
        name = segment_name(first, first + len(lines) - 1)
        (rundir.root / name).write_bytes(lzma.compress(b"".join(lines)))
        return first + len(lines)

    def test_readers_skip_the_lines_a_segment_holds(self, tmp_path):
        """Each iteration is read once; the count is right; resume writes no duplicate segment."""
        rundir = _run(tmp_path, 22)
        end = self._half_rotated(rundir)
        assert end == 22
        assert [r.iteration_num for r in read_history(rundir.history).records] == list(range(22))
        assert count_committed(rundir.history) == 22
        _resume(tmp_path, 40)
        assert [r.iteration_num for r in read_history(rundir.history).records] == list(range(40))
        segments = list_segments(rundir.history)
        assert all(b.first == a.last + 1 for a, b in itertools.pairwise(segments))

    def test_a_temp_segment_is_ignored_and_removed_on_resume(self, tmp_path):
        """A kill while the segment was written leaves a temp file: unread, then removed."""
        rundir = _run(tmp_path, 10)
        tmp = rundir.root / f".{segment_name(8, 9)}.tmp"
        tmp.write_bytes(b"\xfd7zXZ partial")
        assert len(read_history(rundir.history).records) == 10
        _resume(tmp_path, 14)
        assert not tmp.exists()
        assert len(read_history(rundir.history).records) == 14

    def test_repair_drops_the_duplicates_and_keeps_the_segments(self, tmp_path):
        """`stratloop repair` on a half-rotated run: live duplicates dropped, segments untouched."""
        rundir = _run(tmp_path, 22)
        self._half_rotated(rundir)
        segments = {s.path.name: s.path.read_bytes() for s in list_segments(rundir.history)}
        plan = plan_repair(rundir.history)
        assert len(plan.records) == 22
        assert plan.in_segments == 22
        assert [d.iteration for d in plan.dropped] == list(range(22 - len(plan.dropped), 22))
        assert all("a second record of iteration" in d.reason for d in plan.dropped)
        report = repair_run(tmp_path / "runs", "r")
        assert report.kept == 22
        assert rundir.history.read_bytes() == b""
        assert {s.path.name: s.path.read_bytes() for s in list_segments(rundir.history)} == segments
        _resume(tmp_path, 26)
        assert [r.iteration_num for r in read_history(rundir.history).records] == list(range(26))

    def test_a_missing_segment_is_an_error_naming_it(self, tmp_path):
        """A gap in the segments is never read past silently."""
        rundir = _run(tmp_path, 40)
        middle = list_segments(rundir.history)[1]
        middle.path.unlink()
        with pytest.raises(RunError, match="a history segment is missing"):
            read_history(rundir.history)

    def test_a_damaged_segment_is_an_error_naming_it(self, tmp_path):
        """Bytes of a segment that do not decompress name the segment and the fix."""
        rundir = _run(tmp_path, 30)
        first = list_segments(rundir.history)[0]
        first.path.write_bytes(first.path.read_bytes()[:40])
        with pytest.raises(RunError, match=r"damaged \(restore it from a backup\)"):
            read_history(rundir.history)


@pytest.mark.usefixtures("small_segments")
class TestReadersRacingARotation:
    def test_a_reader_in_the_live_file_continues_through_the_new_segment(self, tmp_path):
        """A rotation empties the file the reader is in: it reads the new segment, no gap."""
        rundir = _run(tmp_path, 12)
        records = read_history(rundir.history).records
        path = tmp_path / "h" / "history.jsonl"
        path.parent.mkdir()
        with HistoryWriter(path, segment_bytes=1 << 30) as writer:
            for record in records[:8]:
                writer.append(record)
            writer.sync()
            reading = iter_history(path)
            assert next(reading).iteration_num == 0
            for record in records[8:]:
                writer.append(record)
            writer.sync()
            writer.rotate()
            assert [r.iteration_num for r in reading] == list(range(1, 12))
        assert [s.last for s in list_segments(path)] == [11]


class TestOldRuns:
    def test_a_single_file_run_resumes_into_segments(self, tmp_path, monkeypatch):
        """The schema-1 fixture (one history.jsonl) resumes; its old lines go into a segment."""
        shutil.copytree(FIXTURE, tmp_path, dirs_exist_ok=True)
        monkeypatch.chdir(tmp_path)
        for key in FLAGS:
            monkeypatch.setenv(key, "true")
        monkeypatch.setattr(history_module, "SEGMENT_BYTES", 1)
        history = tmp_path / "runs" / OLD_RUN / "history.jsonl"
        before = history.read_bytes()
        result = CliRunner().invoke(
            app, ["run", "--no-progress", "--resume", OLD_RUN, "--iterations", "9"]
        )
        assert result.exit_code == 0, result.output
        segments = list_segments(history)
        assert segments[0].first == 0
        assert lzma.decompress(segments[0].path.read_bytes()).startswith(before)
        assert [r.iteration_num for r in read_history(history).records] == list(range(9))
        verified = CliRunner().invoke(app, ["audit", "verify", "audit/learning_audit.jsonl"])
        assert verified.exit_code == 0, verified.output


def _records(count):
    """``count`` records numbered 0.. (copies of one real record), built once."""
    if not _RECORDS:
        with tempfile.TemporaryDirectory() as scratch:
            _RECORDS.append(read_history(_run(Path(scratch), 1).history).records[0])
    template = _RECORDS[0]
    return [dataclasses.replace(template, iteration_num=i, batch=i // 4) for i in range(count)]


_RECORDS: list = []


class TestSegmentsProperty:
    @settings(max_examples=40, deadline=None)
    @given(
        count=st.integers(0, 40),
        batches=st.lists(st.integers(1, 7), min_size=1, max_size=40),
        segment_bytes=st.integers(1, 40_000),
        crash_mid_rotation=st.booleans(),
        start=st.integers(0, 45),
    )
    def test_any_rotation_schedule_reads_back_every_record_once(
        self, count, batches, segment_bytes, crash_mid_rotation, start
    ):
        """Whatever the batch sizes, segment size and a crash mid-rotation: 0..n-1, once each."""
        records = _records(count)
        with tempfile.TemporaryDirectory() as scratch:
            path = Path(scratch) / "history.jsonl"
            with HistoryWriter(path, segment_bytes=segment_bytes) as writer:
                done = 0
                for size in itertools.cycle(batches):
                    if done >= count:
                        break
                    for record in records[done : done + size]:
                        writer.append(record)
                    done = min(count, done + size)
                    writer.sync()
            lines = path.read_bytes().splitlines(keepends=True)
            if crash_mid_rotation and lines:
                first = json.loads(lines[0])["iteration_num"]
                name = segment_name(first, first + len(lines) - 1)
                (path.parent / name).write_bytes(lzma.compress(b"".join(lines)))
            assert [r.iteration_num for r in read_history(path).records] == list(range(count))
            assert count_committed(path) == count
            assert [r.iteration_num for r in iter_history(path, start)] == list(range(start, count))
            assert len(plan_repair(path).records) == count
