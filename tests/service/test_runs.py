"""Run ids from outside: only run-id-shaped names of listed run directories get through."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from iteration_records import line_at
from stratloop.errors import RunIdError, RunNotFoundError
from stratloop.service.runs import RunReader, check_run_id

SHAPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


class TestCheckRunId:
    @given(st.text(max_size=300))
    def test_accepts_exactly_the_shape(self, text: str) -> None:
        """Any text passes iff it is run-id shaped with no '..'; what passes has no separator."""
        shaped = bool(SHAPE.fullmatch(text)) and ".." not in text
        if shaped:
            assert check_run_id(text) == text
            assert "/" not in text
            assert "\\" not in text
            assert "\x00" not in text
        else:
            with pytest.raises(RunIdError):
                check_run_id(text)

    @given(st.text(min_size=1, max_size=20).map(lambda s: "../" + s))
    def test_traversal_is_refused(self, text: str) -> None:
        """Anything starting with ../ is refused."""
        with pytest.raises(RunIdError):
            check_run_id(text)

    def test_message_is_bounded(self) -> None:
        """A huge id is quoted by a short prefix only."""
        with pytest.raises(RunIdError) as caught:
            check_run_id("x" * 100_000)
        assert len(str(caught.value)) < 300


class TestRunReader:
    def test_only_listed_runs_resolve(self, tmp_path: Path) -> None:
        """A shaped id that is not a run directory (a file, a bare dir) is not found."""
        (tmp_path / "a-run").mkdir()
        (tmp_path / "a-run" / "config.json").write_text("{}")
        (tmp_path / "bare").mkdir()
        (tmp_path / "file.txt").write_text("x")
        reader = RunReader(tmp_path)
        assert reader.resolve("a-run") == "a-run"
        for name in ("bare", "file.txt", "missing"):
            with pytest.raises(RunNotFoundError):
                reader.resolve(name)


def _run_dir(root: Path, run_id: str) -> Path:
    run = root / run_id
    run.mkdir(parents=True)
    config = {"config": {"loop": {"champion_metric": "sharpe"}}, "config_hash": "h"}
    (run / "config.json").write_text(json.dumps(config))
    (run / "run.json").write_text(json.dumps({"status": "running", "total": 5000}))
    return run


class TestFollowingHistory:
    def test_pages_across_strides_and_growth(self, tmp_path: Path) -> None:
        """Pages start anywhere, a torn last line is not a record, appended lines are seen."""
        run = _run_dir(tmp_path, "r1")
        history = run / "history.jsonl"
        history.write_bytes(b"".join(line_at(i, i % 4) for i in range(2500)))
        reader = RunReader(tmp_path)
        page, following = reader.history_page("r1", 1999, 3)
        assert [r.iteration_num for r in page] == [1999, 2000, 2001]
        assert following == 2002
        page, following = reader.history_page("r1", 2498, 10)
        assert [r.iteration_num for r in page] == [2498, 2499]
        assert following is None
        assert reader.search("r1").iterations == 2500
        with history.open("ab") as handle:
            handle.write(line_at(2500) + line_at(2501)[:40])
        assert reader.search("r1").iterations == 2501
        page, following = reader.history_page("r1", 2500, 5)
        assert [r.iteration_num for r in page] == [2500]
        assert following is None
        assert reader.history_page("r1", 9000, 5) == ([], None)

    def test_a_shrunk_file_is_followed_again(self, tmp_path: Path) -> None:
        """A history cut shorter (torn tail moved aside) is re-read from the start."""
        run = _run_dir(tmp_path, "r2")
        history = run / "history.jsonl"
        history.write_bytes(b"".join(line_at(i) for i in range(10)))
        reader = RunReader(tmp_path)
        assert reader.search("r2").iterations == 10
        history.write_bytes(b"".join(line_at(i) for i in range(4)))
        assert reader.search("r2").iterations == 4
