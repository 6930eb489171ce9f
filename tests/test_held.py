"""lost_file: a writer notices its locked file was deleted or replaced."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from stratloop._held import FileId, file_id, lost_file


@pytest.fixture
def held(tmp_path: Path) -> Iterator[tuple[Path, FileId]]:
    """A file kept open for the test, as a writer holds its locked file."""
    path = tmp_path / "held"
    path.write_text("x")
    fd = os.open(path, os.O_RDONLY)
    try:
        yield path, file_id(fd)
    finally:
        os.close(fd)


class TestLostFile:
    def test_the_same_file_is_not_lost(self, held: tuple[Path, FileId]) -> None:
        """While the path names the open file, nothing is lost."""
        assert lost_file(*held) is None

    def test_a_deleted_file_is_lost(self, held: tuple[Path, FileId]) -> None:
        """Deleting the path is reported as such."""
        held[0].unlink()
        assert lost_file(*held) == "was deleted"

    def test_a_replaced_file_is_lost(self, held: tuple[Path, FileId]) -> None:
        """A new file renamed over the path is another file, whatever it holds."""
        path, _ = held
        other = path.with_name("other")
        other.write_text("x")
        other.replace(path)
        assert lost_file(*held) == "was replaced by another file"
