"""Closed history segments: a long run's history.jsonl is gzipped in parts, read back whole."""

import gzip

import pytest
from loop_helpers import factor_graph_source, hash_evaluator, loop_config

from iteration_records import record_at
from stratloop.errors import RunError
from stratloop.flags import EnvFlagSource
from stratloop.loop import history as history_module
from stratloop.loop.history import (
    HistoryWriter,
    committed_count,
    history_segments,
    iter_history,
    read_history,
)
from stratloop.loop.runner import LoopParts, LoopRunner, open_run


def _write(path, start, count, *, batch=5, segment_bytes=4_000):
    with HistoryWriter(path, segment_bytes=segment_bytes) as writer:
        for i in range(start, start + count):
            writer.append(record_at(i, kind=i % 4))
            if (i + 1) % batch == 0:
                writer.sync()


class TestSegments:
    def test_full_file_becomes_gzipped_segments_read_back_in_order(self, tmp_path):
        """Past the size at a batch boundary the file is closed into a .gz named for its range."""
        path = tmp_path / "history.jsonl"
        _write(path, 0, 40)
        segments = history_segments(path)
        assert len(segments) >= 2
        assert all(segment.suffix == ".gz" for segment in segments)
        assert segments[0].name.startswith("history.000000000000-")
        read = read_history(path)
        assert [r.iteration_num for r in read.records] == list(range(40))
        assert read.torn is None
        assert [r.iteration_num for r in iter_history(path)] == list(range(40))
        assert committed_count(path) == 40

    def test_a_resumed_writer_continues_after_the_segments(self, tmp_path):
        """Reopening appends to the live file and later segments carry on the numbering."""
        path = tmp_path / "history.jsonl"
        _write(path, 0, 23)
        _write(path, 23, 30)
        assert [r.iteration_num for r in read_history(path).records] == list(range(53))
        assert committed_count(path) == 53

    def test_a_compression_interrupted_by_a_crash_is_finished_at_the_next_open(self, tmp_path):
        """A plain segment and a half-written .gz.tmp left by a crash: read fine, then gzipped."""
        path = tmp_path / "history.jsonl"
        _write(path, 0, 20, segment_bytes=10**9)
        plain = path.with_name("history.000000000000-000000000019.jsonl")
        path.rename(plain)
        plain.with_name(plain.name + ".gz.tmp").write_bytes(b"partial")
        assert [r.iteration_num for r in read_history(path).records] == list(range(20))
        _write(path, 20, 5, segment_bytes=10**9)
        assert [segment.suffix for segment in history_segments(path)] == [".gz"]
        assert not list(tmp_path.glob("*.tmp"))
        assert [r.iteration_num for r in read_history(path).records] == list(range(25))

    def test_a_damaged_segment_stops_the_read(self, tmp_path):
        """A segment that lost a line is corruption, named with its file."""
        path = tmp_path / "history.jsonl"
        _write(path, 0, 40)
        segment = history_segments(path)[0]
        lines = gzip.decompress(segment.read_bytes()).splitlines(keepends=True)
        segment.write_bytes(gzip.compress(b"".join(lines[1:])))
        with pytest.raises(RunError, match=segment.name):
            read_history(path)

    def test_the_runner_writes_and_resumes_across_segments(self, tmp_path, monkeypatch):
        """A segmented run's history equals an unsegmented one, and resume replays all of it."""
        config = loop_config(tmp_path, iterations=24)
        plain = _run(config, "plain")
        monkeypatch.setattr(history_module, "SEGMENT_BYTES", 8_000)
        segmented = _run(config, "segmented")
        assert history_segments(segmented / "history.jsonl")
        assert _comparable(segmented) == _comparable(plain)
        rundir, stored = open_run(tmp_path / "runs", "segmented")
        runner = LoopRunner.resume(rundir, stored, lambda _u: _parts())
        assert runner.state.next_iteration == 24
        runner.run()


def _parts():
    return LoopParts(
        factor_graph=factor_graph_source(),
        evaluator=hash_evaluator,
        flags=EnvFlagSource({"PHASE4_AUDIT_TRAIL": "false"}),
    )


def _run(config, run_id):
    return LoopRunner.create(config, lambda _usage: _parts(), run_id=run_id).run().path


def _comparable(run_path):
    return [
        {k: v for k, v in record.as_dict().items() if k not in ("timestamp", "timings")}
        for record in read_history(run_path / "history.jsonl").records
    ]
