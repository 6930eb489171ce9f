import dataclasses
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iteration_records import line_at, record_at
from stratloop.errors import RunError
from stratloop.iteration import IterationRecord
from stratloop.loop.history import HistoryWriter, cut_torn_tail, iter_history, read_history


def _write(path, count):
    with HistoryWriter(path) as writer:
        for i in range(count):
            writer.append(record_at(i, kind=i % 4))


class TestReadHistory:
    def test_a_clean_file_reads_every_record(self, tmp_path):
        """Complete lines come back as records in order, with no torn tail."""
        path = tmp_path / "history.jsonl"
        _write(path, 5)
        read = read_history(path)
        assert [r.iteration_num for r in read.records] == [0, 1, 2, 3, 4]
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
        assert [r.iteration_num for r in read.records] == list(range(complete))
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
        path.write_bytes(good + b'{"iteration_num": 3, "x"')
        torn = read_history(path).torn
        assert torn is not None
        aside = cut_torn_tail(path, torn)
        assert path.read_bytes() == good
        assert aside.read_bytes() == b'{"iteration_num": 3, "x"'

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
        path.write_bytes(line_at(0) + line_at(2))
        with pytest.raises(RunError, match="iteration 1 was expected"):
            read_history(path)


class TestRecords:
    def test_a_line_is_strict_json_and_reads_back_equal(self):
        """Every kind of record survives its own history line, key for key."""
        for kind in range(4):
            record = record_at(3, kind)
            line = record.to_json()
            assert "NaN" not in line
            assert IterationRecord.from_json(line) == record

    @settings(max_examples=200, deadline=None)
    @given(
        kind=st.integers(0, 3),
        metrics=st.dictionaries(
            st.text(min_size=1, max_size=8),
            st.one_of(st.none(), st.integers(-(10**12), 10**12), st.floats()),
            max_size=6,
        ),
        params=st.dictionaries(
            st.text(max_size=5),
            st.one_of(
                st.integers(), st.floats(allow_nan=False), st.lists(st.integers(), max_size=3)
            ),
            max_size=3,
        ),
    )
    def test_any_built_record_reads_back_equal(self, kind, metrics, params):
        """What the loop builds is exactly what its line reads back as (so resume equals live)."""
        base = record_at(7, kind)
        outcome = base.outcome
        if outcome.candidate is not None:
            lineage = dataclasses.replace(outcome.candidate.lineage, params=params)
            candidate = dataclasses.replace(outcome.candidate, lineage=lineage)
            outcome = dataclasses.replace(outcome, candidate=candidate)
        record = IterationRecord.build(
            iteration_num=7,
            batch=0,
            timestamp="t",
            flags=base.flags,
            outcome=outcome,
            status=base.status,
            timings=base.timings,
            error=base.error,
            train=metrics if base.evaluated else None,
            validation=metrics if base.evaluated else None,
            folds=(metrics, metrics) if base.evaluated else (),
        ).with_champion(base.evaluated)
        assert IterationRecord.from_json(record.to_json()) == record

    def test_comparable_drops_only_volatile_keys(self):
        """Timestamps and timings are ignored; across implementations the path names too."""
        record = record_at(1)
        whole = record.as_dict()
        assert record.comparable() == {
            k: v for k, v in whole.items() if k not in ("timestamp", "timings")
        }
        assert set(record.comparable(across_implementations=True)) == set(whole) - {
            "timestamp",
            "timings",
            "implementation",
            "strategy_selected",
            "flags",
        }

    def test_a_record_from_before_the_rename_still_reads(self):
        """An unversioned line that says ``iteration`` and ``test`` reads (runs from before)."""
        record = record_at(5)
        old = record.as_dict()
        del old["schema_version"]
        old["iteration"] = old.pop("iteration_num")
        old["test"] = old.pop("validation")
        del old["folds"]
        expected = dataclasses.replace(record, validation=None, folds=(), test=record.validation)
        read = IterationRecord.from_json(json.dumps(old))
        assert read == expected
        assert read.selection == record.train

    def test_a_schema_2_line_keeps_its_test_metrics(self):
        """Schema 2 named the iteration ``iteration_num`` and still had ``test``."""
        record = record_at(3)
        old = record.as_dict()
        old["schema_version"] = 2
        old["test"] = old.pop("validation")
        del old["folds"]
        read = IterationRecord.from_json(json.dumps(old))
        assert read.test == record.validation
        assert read.validation is None
        assert read.iteration_num == 3

    def test_a_missing_key_is_named(self):
        """A line without a key every record has says which, not a KeyError."""
        data = record_at(2).as_dict()
        del data["status"]
        with pytest.raises(RunError, match="history record 2 lacks the key 'status'"):
            IterationRecord.from_json(json.dumps(data))

    def test_an_unknown_schema_is_refused(self):
        """A newer stratloop's line is not guessed at."""
        data = record_at(0).as_dict()
        data["schema_version"] = 99
        with pytest.raises(RunError, match="schema_version 99"):
            IterationRecord.from_json(json.dumps(data))


class TestIterHistory:
    """The streaming reader yields what read_history returns, and refuses what it refuses."""

    @settings(max_examples=60, deadline=None)
    @given(
        st.integers(0, 6),
        st.sampled_from([b"", b'{"iteration_num": 9', b"not json\n", b'{"no": 1}']),
    )
    def test_same_records_as_the_whole_file_read(self, tmp_path_factory, count, tail):
        path = tmp_path_factory.mktemp("history") / "history.jsonl"
        lines = b"".join(line_at(i, kind=i % 4) for i in range(count))
        path.write_bytes(lines + tail)
        whole = read_history(path)
        assert list(iter_history(path)) == list(whole.records)
        assert (whole.torn is None) == (tail == b"")
        if whole.torn is not None:
            assert whole.torn.offset == len(lines)
            assert whole.torn.text == tail

    def test_a_damaged_middle_line_stops_the_stream_with_its_number(self, tmp_path):
        path = tmp_path / "history.jsonl"
        path.write_bytes(line_at(0) + b"broken\n" + line_at(1))
        with pytest.raises(RunError, match="line 2 is corrupt"):
            list(iter_history(path))

    def test_out_of_order_iterations_are_refused(self, tmp_path):
        path = tmp_path / "history.jsonl"
        path.write_bytes(line_at(0) + line_at(2))
        with pytest.raises(RunError, match="line 2 holds iteration 2 but iteration 1"):
            list(iter_history(path))

    def test_a_missing_file_has_no_records(self, tmp_path):
        assert list(iter_history(tmp_path / "history.jsonl")) == []
