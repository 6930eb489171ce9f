"""Run ids from outside: only run-id-shaped names of listed run directories get through."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

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
