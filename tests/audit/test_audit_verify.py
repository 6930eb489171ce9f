"""verify_trail: each kind of break is reported at its file and line with what is wrong."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import zstandard

from stratloop.acceptance.audit_samples import write_sample_trail
from stratloop.audit import iter_records, verify_trail
from stratloop.audit._canonical import canonical_json, digest
from stratloop.config.models import AuditConfig
from stratloop.errors import AuditFormatError


def _read(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _write(path: Path, records: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(record) + "\n" for record in records))


def _rehash(record: dict[str, Any]) -> dict[str, Any]:
    body = {key: value for key, value in record.items() if key != "hash"}
    return {**body, "hash": digest(canonical_json(body))}


@pytest.fixture
def trail(tmp_path: Path) -> Path:
    path = tmp_path / "learning_audit.jsonl"
    write_sample_trail(path, 6)
    return path


class TestVerifyBreaks:
    def test_clean_trail_is_ok(self, trail):
        """An untouched trail verifies with no breaks and every record counted."""
        report = verify_trail(trail)
        assert report.ok
        assert report.record_count == 6
        assert report.trails[0].first_seq == 0
        assert report.trails[0].last_seq == 5

    def test_edited_record_is_a_hash_mismatch_at_its_line(self, trail):
        """Changing a field without rehashing names the line and says it was edited."""
        records = _read(trail)
        records[2]["outcome"]["expression"] = "rank(returns)"
        _write(trail, records)
        first = verify_trail(trail).trails[0].first_break
        assert first is not None
        assert (first.path, first.line_no, first.seq) == (trail, 3, 2)
        assert "hash mismatch: the record was edited after it was written" in str(first)

    def test_deleted_record_is_reported_as_missing(self, trail):
        """A removed line shows as the next seq arriving where the removed one was expected."""
        records = _read(trail)
        del records[3]
        _write(trail, records)
        first = verify_trail(trail).trails[0].first_break
        assert first is not None
        assert first.line_no == 4
        assert first.problem == "seq 4 where 3 was expected (records missing)"

    def test_swapped_records_are_reordered(self, trail):
        """Two records swapped: the earlier seq arriving late is 'reordered or duplicated'."""
        records = _read(trail)
        records[1], records[2] = records[2], records[1]
        _write(trail, records)
        problems = [item.problem for item in verify_trail(trail).breaks]
        assert problems[0] == "seq 2 where 1 was expected (records missing)"
        assert "seq 1 where 3 was expected (records reordered or duplicated)" in problems

    def test_rehashed_record_with_foreign_prev_hash_breaks_the_chain(self, trail):
        """A record re-hashed after editing prev_hash still breaks the link to its predecessor."""
        records = _read(trail)
        records[4] = _rehash({**records[4], "prev_hash": "f" * 64})
        _write(trail, records)
        first = verify_trail(trail).trails[0].first_break
        assert first is not None
        assert (first.line_no, first.seq) == (5, 4)
        assert first.problem.startswith("prev_hash does not match the previous record's hash")

    def test_snapshot_edited_and_rehashed_disagrees_with_config_hash(self, trail):
        """A rewritten snapshot is caught by config_hash even when the record hash is redone."""
        records = _read(trail)
        records[0]["config_snapshot"]["generation"]["innovation_rate"] = 99.0
        records[0] = _rehash(records[0])
        _write(trail, records)
        problems = [item.problem for item in verify_trail(trail).breaks]
        assert any(
            problem.startswith(f"config_hash {records[0]['config_hash']} is not the sha256")
            for problem in problems
        )

    def test_garbage_line_is_not_json(self, trail):
        """A line that is not JSON is named with the parser's reason."""
        lines = trail.read_text().splitlines(keepends=True)
        lines.insert(1, "{not json\n")
        trail.write_text("".join(lines))
        first = verify_trail(trail).trails[0].first_break
        assert first is not None
        assert first.line_no == 2
        assert first.problem.startswith("not JSON: ")

    def test_schema_problem_is_named(self, trail):
        """A JSON object missing a field says which field."""
        records = _read(trail)
        del records[0]["decision"]
        _write(trail, records)
        first = verify_trail(trail).trails[0].first_break
        assert first is not None
        assert first.problem == "not a valid record: missing field(s) decision"

    def test_truncated_tail_contradicts_the_head_file(self, trail):
        """Dropping the last complete records is caught by the head sidecar."""
        _write(trail, _read(trail)[:4])
        problems = [str(item) for item in verify_trail(trail).breaks]
        assert any(
            "the head file says records up to seq 5 were made durable but the trail ends at "
            "seq 3" in problem
            for problem in problems
        )

    def test_missing_start_without_retention_log(self, trail):
        """A trail that starts after seq 0 with no retention entry reports the missing range."""
        _write(trail, _read(trail)[2:])
        first = verify_trail(trail).trails[0].first_break
        assert first is not None
        assert "records 0..1 are missing" in first.problem

    def test_torn_tail_is_reported_but_not_a_break(self, trail):
        """An unterminated last line in the live file is a crash trace, not a break."""
        with trail.open("ab") as handle:
            handle.write(b'{"seq": 6, "trunc')
        report = verify_trail(trail)
        assert report.breaks == ()
        assert "torn last line" in report.trails[0].torn[0]
        assert f"{trail}:7" in report.trails[0].torn[0]

    def test_empty_head_file_means_nothing_committed_yet(self, trail):
        """The sidecar created empty at open (crash before any commit) is not unusable input."""
        trail.with_name(trail.name + ".head").write_text("")
        assert verify_trail(trail).ok

    def test_garbled_head_file_is_unusable_input(self, trail):
        """A head sidecar that is not 'SEQ HASH' is an AuditFormatError naming the file."""
        trail.with_name(trail.name + ".head").write_text("nonsense")
        with pytest.raises(AuditFormatError, match=r"\.head must hold 'SEQ HASH'"):
            verify_trail(trail)


class TestVerifyArchives:
    def _rotated(self, path: Path) -> list[Path]:
        config = AuditConfig(path=str(path), fsync="never", rotate_max_bytes=6_000)
        write_sample_trail(path, 10, config=config)
        return sorted(path.parent.glob("learning_audit.*.jsonl.zst"))

    def test_edit_inside_a_compressed_archive_points_at_it(self, tmp_path):
        """A record edited inside a .zst archive is reported at that archive's line."""
        path = tmp_path / "learning_audit.jsonl"
        archive = self._rotated(path)[0]
        lines = zstandard.ZstdDecompressor().decompress(archive.read_bytes()).decode().splitlines()
        record = json.loads(lines[1])
        record["iteration_num"] = 777
        lines[1] = json.dumps(record)
        archive.write_bytes(zstandard.ZstdCompressor().compress(("\n".join(lines) + "\n").encode()))
        first = verify_trail(path).trails[0].first_break
        assert first is not None
        assert (first.path, first.line_no) == (archive, 2)
        assert first.problem.startswith("hash mismatch")

    def test_renamed_archive_is_reported(self, tmp_path):
        """An archive whose name does not match its first seq is named as such."""
        path = tmp_path / "learning_audit.jsonl"
        archives = self._rotated(path)
        second = archives[1]
        first_seq = int(second.name.split(".")[1])
        wrong = second.with_name(f"learning_audit.{first_seq + 1:012d}.jsonl.zst")
        second.rename(wrong)
        problems = [item.problem for item in verify_trail(path).breaks]
        assert f"archive named for seq {first_seq + 1} starts at seq {first_seq}" in problems

    def test_unterminated_line_in_an_archive_is_a_break(self, tmp_path):
        """Archives are closed files: a torn line inside one is a break, not a crash trace."""
        path = tmp_path / "learning_audit.jsonl"
        archive = self._rotated(path)[0]
        archive.write_bytes(
            zstandard.ZstdCompressor().compress(
                zstandard.ZstdDecompressor().decompress(archive.read_bytes()) + b'{"seq"'
            )
        )
        problems = [item.problem for item in verify_trail(path).breaks]
        assert "unterminated line inside a rotated archive" in problems


class TestVerifyInput:
    def test_missing_path_is_an_error_naming_it(self, tmp_path):
        """A path that does not exist is unusable input with the path in the message."""
        missing = tmp_path / "nowhere"
        with pytest.raises(AuditFormatError, match="does not exist"):
            verify_trail(missing)

    def test_directory_without_audit_files(self, tmp_path):
        """A directory with no *.jsonl files says so."""
        (tmp_path / "notes.txt").write_text("x")
        with pytest.raises(AuditFormatError, match="holds no audit files"):
            verify_trail(tmp_path)


class TestIterRecords:
    def test_newest_first_visits_the_live_file_then_archives_backwards(self, tmp_path):
        """newest_first reverses the file order and keeps each file's lines in order."""
        path = tmp_path / "learning_audit.jsonl"
        config = AuditConfig(path=str(path), fsync="never", rotate_max_bytes=6_000)
        write_sample_trail(path, 10, config=config)
        forward = [(file, record["seq"]) for file, _line, record in iter_records(path)]
        backward = [
            (file, record["seq"]) for file, _line, record in iter_records(path, newest_first=True)
        ]
        files = list(dict.fromkeys(file for file, _seq in forward))
        assert backward[0][0] == path
        assert list(dict.fromkeys(file for file, _seq in backward)) == files[::-1]
        assert sorted(seq for _file, seq in backward) == list(range(10))
        for file in files:
            assert [seq for f, seq in backward if f == file] == [
                seq for f, seq in forward if f == file
            ]
