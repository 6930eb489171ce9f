import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stratloop.errors import RunError
from stratloop.loop.history import (
    HistoryWriter,
    comparable,
    cut_torn_tail,
    dumps_record,
    iter_history,
    read_history,
)


def _write(path, count):
    with HistoryWriter(path) as writer:
        for i in range(count):
            writer.append(dumps_record({"iteration": i, "timestamp": f"t{i}", "x": [i, "é"]}))


class TestReadHistory:
    def test_a_clean_file_reads_every_record(self, tmp_path):
        """Complete lines come back as records in order, with no torn tail."""
        path = tmp_path / "history.jsonl"
        _write(path, 5)
        read = read_history(path)
        assert [r["iteration"] for r in read.records] == [0, 1, 2, 3, 4]
        assert read.torn is None

    def test_a_missing_file_is_an_empty_history(self, tmp_path):
        """No history yet means no records."""
        read = read_history(tmp_path / "none.jsonl")
        assert read.records == ()
        assert read.torn is None

    @settings(max_examples=60, deadline=None)
    @given(cut=st.integers(min_value=0, max_value=10_000))
    def test_any_truncation_is_a_prefix_plus_at_most_a_torn_tail(self, tmp_path_factory, cut):
        """Cutting the file at any byte gives the complete lines before it, and the rest as torn."""
        path = tmp_path_factory.mktemp("h") / "history.jsonl"
        _write(path, 6)
        data = path.read_bytes()
        cut %= len(data) + 1
        path.write_bytes(data[:cut])
        read = read_history(path)
        complete = data[:cut].count(b"\n")
        assert [r["iteration"] for r in read.records] == list(range(complete))
        if cut == 0 or data[cut - 1 : cut] == b"\n":
            assert read.torn is None
        else:
            assert read.torn is not None
            assert read.torn.offset + len(read.torn.text) == cut

    def test_cutting_the_torn_tail_keeps_it_aside_and_truncates(self, tmp_path):
        """The torn bytes are moved to a side file and the history ends at the last good line."""
        path = tmp_path / "history.jsonl"
        _write(path, 3)
        good = path.read_bytes()
        path.write_bytes(good + b'{"iteration": 3, "x"')
        torn = read_history(path).torn
        assert torn is not None
        aside = cut_torn_tail(path, torn)
        assert path.read_bytes() == good
        assert aside.read_bytes() == b'{"iteration": 3, "x"'

    def test_a_corrupt_line_in_the_middle_is_an_error(self, tmp_path):
        """Only the last line may be torn; damage elsewhere stops the run."""
        path = tmp_path / "history.jsonl"
        _write(path, 3)
        lines = path.read_bytes().split(b"\n")
        lines[1] = b"garbage"
        path.write_bytes(b"\n".join(lines))
        with pytest.raises(RunError, match="line 2 is corrupt"):
            read_history(path)

    def test_out_of_order_iterations_are_an_error(self, tmp_path):
        """A history whose iterations skip is inconsistent."""
        path = tmp_path / "history.jsonl"
        path.write_text('{"iteration": 0}\n{"iteration": 2}\n')
        with pytest.raises(RunError, match="iteration 1 was expected"):
            read_history(path)


class TestRecords:
    def test_dumps_is_strict_json(self):
        """NaN is refused: history lines are strict JSON."""
        with pytest.raises(ValueError):
            dumps_record({"iteration": 0, "x": float("nan")})

    def test_comparable_drops_only_volatile_keys(self):
        """Timestamps and timings are ignored; across implementations the path names too."""
        record = {
            "iteration": 1,
            "timestamp": "t",
            "timings": {},
            "implementation": "p",
            "strategy_selected": "s",
            "flags": {},
            "decision": {},
        }
        assert comparable(record) == {
            "iteration": 1,
            "implementation": "p",
            "strategy_selected": "s",
            "flags": {},
            "decision": {},
        }
        assert comparable(record, across_implementations=True) == {"iteration": 1, "decision": {}}
        assert json.loads(dumps_record(record)) == record


class TestIterHistory:
    """The streaming reader yields what read_history returns, and refuses what it refuses."""

    @settings(max_examples=60, deadline=None)
    @given(
        st.integers(0, 6),
        st.sampled_from([b"", b'{"iteration": 9', b"not json\n", b'{"no": 1}']),
    )
    def test_same_records_as_the_whole_file_read(self, tmp_path_factory, count, tail):
        path = tmp_path_factory.mktemp("history") / "history.jsonl"
        lines = b"".join(
            json.dumps({"iteration": i, "x": i * 1.5}).encode() + b"\n" for i in range(count)
        )
        path.write_bytes(lines + tail)
        whole = read_history(path)
        assert list(iter_history(path)) == list(whole.records)
        assert (whole.torn is None) == (tail == b"")
        if whole.torn is not None:
            assert whole.torn.offset == len(lines)
            assert whole.torn.text == tail

    def test_a_damaged_middle_line_stops_the_stream_with_its_number(self, tmp_path):
        path = tmp_path / "history.jsonl"
        path.write_bytes(b'{"iteration": 0}\nbroken\n{"iteration": 1}\n')
        with pytest.raises(RunError, match="line 2 is corrupt"):
            list(iter_history(path))

    def test_out_of_order_iterations_are_refused(self, tmp_path):
        path = tmp_path / "history.jsonl"
        path.write_bytes(b'{"iteration": 0}\n{"iteration": 2}\n')
        with pytest.raises(RunError, match="line 2 holds iteration 2 but iteration 1"):
            list(iter_history(path))

    def test_a_missing_file_has_no_records(self, tmp_path):
        assert list(iter_history(tmp_path / "history.jsonl")) == []
