"""Where a trail's files live and how they are named and read.

A trail whose live file is ``DIR/NAME.jsonl`` owns, in the same directory:
``NAME.<first seq, 12 digits>.jsonl.zst`` (or ``.jsonl`` when uncompressed;
``.jsonl.gz`` from writers before zstd, still read) rotated archives,
``NAME.retention.jsonl`` (what retention deleted),
``NAME.checkpoints.jsonl`` (signed checkpoints of the chain head and key rotations),
``NAME.jsonl.head`` (the last durable seq and hash), ``NAME.jsonl.lock`` and
``NAME.jsonl.<UTC stamp>.torn`` (torn tails moved aside at start).
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import zstandard

from stratloop.errors import AuditFormatError

__all__ = [
    "COMPRESSED_SUFFIXES",
    "RawLine",
    "TrailFiles",
    "archive_name",
    "archive_seq",
    "discover_trails",
    "iter_lines",
    "load_archive",
    "read_checkpoints",
    "read_content",
    "read_head",
    "read_retention",
    "unpack",
]

_CHECKPOINTS = ".checkpoints.jsonl"
_SIDECARS = (".retention.jsonl", _CHECKPOINTS)
"""Logs beside a trail that are not trails themselves."""

COMPRESSED_SUFFIXES = (".zst", ".gz")
"""Suffixes of compressed archives: zstd as written now, gzip as written before."""

_ARCHIVE = re.compile(r"^(?P<stem>.+)\.(?P<seq>\d{12})\.jsonl(?P<packed>\.zst|\.gz)?$")


def archive_name(stem: str, first_seq: int, *, compressed: bool) -> str:
    """The file name of the archive whose first record has ``first_seq``."""
    return f"{stem}.{first_seq:012d}.jsonl" + (".zst" if compressed else "")


def archive_seq(path: Path) -> int:
    """The first seq an archive's name claims."""
    name = path.name
    if path.suffix in COMPRESSED_SUFFIXES:
        name = name.removesuffix(path.suffix)
    return int(name.split(".")[-2])


@dataclass(frozen=True, slots=True)
class TrailFiles:
    """The files of one trail, archives in sequence order, then the live file."""

    live: Path
    archives: tuple[Path, ...]

    @property
    def stem(self) -> str:
        """The live file's name without ``.jsonl``."""
        return self.live.name.removesuffix(".jsonl")

    @property
    def ordered(self) -> tuple[Path, ...]:
        """Archives oldest first, then the live file if it exists."""
        return self.archives + ((self.live,) if self.live.exists() else ())

    @property
    def retention_log(self) -> Path:
        """The log of archives retention deleted."""
        return self.live.with_name(f"{self.stem}.retention.jsonl")

    @property
    def checkpoints(self) -> Path:
        """The log of signed checkpoints and key rotations."""
        return self.live.with_name(f"{self.stem}.checkpoints.jsonl")

    @property
    def head(self) -> Path:
        """The sidecar holding the last durable seq and hash."""
        return self.live.with_name(self.live.name + ".head")

    @property
    def lock(self) -> Path:
        """The lock file the writer holds while the trail is open."""
        return self.live.with_name(self.live.name + ".lock")

    @property
    def torn_files(self) -> tuple[Path, ...]:
        """Torn tails moved aside at start, oldest first."""
        return tuple(sorted(self.live.parent.glob(self.live.name + ".*.torn")))

    @classmethod
    def of(cls, live: Path) -> TrailFiles:
        """The trail whose live file is ``live`` (which need not exist yet)."""
        stem = live.name.removesuffix(".jsonl")
        found: dict[int, Path] = {}
        if live.parent.is_dir():
            for path in live.parent.iterdir():
                match = _ARCHIVE.match(path.name)
                if match and match["stem"] == stem:
                    seq = int(match["seq"])
                    if seq not in found or match["packed"]:
                        found[seq] = path
        return cls(live=live, archives=tuple(found[seq] for seq in sorted(found)))


def discover_trails(path: Path) -> tuple[TrailFiles, ...]:
    """The trails at ``path``: a live file (with its archives) or every trail in a directory.

    Raises:
        AuditFormatError: the path does not exist or holds no audit files.
    """
    if path.is_file() or (not path.exists() and TrailFiles(path, ()).checkpoints.exists()):
        match = _ARCHIVE.match(path.name)
        live = path.with_name(f"{match['stem']}.jsonl") if match else path
        return (TrailFiles.of(live),)
    if not path.is_dir():
        raise AuditFormatError(f"audit path {path} does not exist; pass an audit file or directory")
    stems: set[str] = set()
    for child in path.iterdir():
        match = _ARCHIVE.match(child.name)
        if match:
            stems.add(match["stem"])
        elif child.name.endswith(_CHECKPOINTS):
            stems.add(child.name.removesuffix(_CHECKPOINTS))
        elif child.name.endswith(".jsonl") and not child.name.endswith(_SIDECARS):
            stems.add(child.name.removesuffix(".jsonl"))
    if not stems:
        raise AuditFormatError(
            f"directory {path} holds no audit files (*.jsonl, *.jsonl.zst, *.jsonl.gz)"
        )
    return tuple(TrailFiles.of(path / f"{stem}.jsonl") for stem in sorted(stems))


@dataclass(frozen=True, slots=True)
class RawLine:
    """One line of a trail file, with where it was found."""

    path: Path
    line_no: int
    text: bytes
    terminated: bool


def unpack(path: Path, stored: bytes) -> bytes:
    """The content of ``path`` from its bytes on disk, ``stored`` (``.zst``, ``.gz``: decompressed).

    Raises:
        AuditFormatError: a compressed file does not decompress (whole).
    """
    try:
        if path.suffix == ".zst":
            reader = zstandard.ZstdDecompressor().decompressobj()
            content = reader.decompress(stored)
            complete = reader.eof
        elif path.suffix == ".gz":
            return gzip.decompress(stored)
        else:
            return stored
    except (OSError, EOFError, gzip.BadGzipFile, zstandard.ZstdError) as exc:
        raise AuditFormatError(f"cannot read audit file {path}: {exc}") from exc
    if not complete:
        raise AuditFormatError(f"cannot read audit file {path}: its zstd frame is cut short")
    return content


def load_archive(path: Path) -> tuple[Path, bytes]:
    """A file's name and bytes on disk, as stored.

    A plain archive listed a moment ago may have been compressed and removed
    since (the writer does that on its background thread right after rotating):
    it is read as its ``.zst`` (or, from an earlier writer, ``.gz``).

    Raises:
        AuditFormatError: the file cannot be read.
    """
    try:
        return path, path.read_bytes()
    except OSError as exc:
        if isinstance(exc, FileNotFoundError) and path.suffix not in COMPRESSED_SUFFIXES:
            for suffix in COMPRESSED_SUFFIXES:
                twin = path.with_name(path.name + suffix)
                if twin.exists():
                    return load_archive(twin)
        raise AuditFormatError(f"cannot read audit file {path}: {exc}") from exc


def read_content(path: Path) -> bytes:
    """The lines of a plain or compressed file as one block of bytes.

    Raises:
        AuditFormatError: the file cannot be read or decompressed.
    """
    return unpack(*load_archive(path))


def iter_lines(path: Path) -> Iterator[RawLine]:
    """Every line of a plain or compressed file, numbered from 1; an unterminated tail is marked.

    Raises:
        AuditFormatError: the file cannot be read or decompressed.
    """
    parts = read_content(path).split(b"\n")
    tail = parts.pop()
    for number, text in enumerate(parts, start=1):
        yield RawLine(path, number, text, terminated=True)
    if tail:
        yield RawLine(path, len(parts) + 1, tail, terminated=False)


def read_head(path: Path) -> tuple[int, str] | None:
    """The ``(seq, hash)`` in a head sidecar, or None when there is none.

    The writer creates the sidecar empty when it opens and fills it at the
    first fdatasync, so an empty sidecar (a crash before any commit) is None.
    """
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        return None
    if not text:
        return None
    try:
        seq_text, hash_text = text.split()
        return int(seq_text), hash_text
    except ValueError as exc:
        raise AuditFormatError(
            f"audit head file {path} must hold 'SEQ HASH' but holds {text[:80]!r}"
        ) from exc


def read_retention(path: Path) -> list[dict[str, Any]]:
    """The entries of a retention log, oldest first (an empty list when there is none)."""
    return _read_log(path, "retention entry")


def read_checkpoints(path: Path) -> list[dict[str, Any]]:
    """The entries of a checkpoint log, oldest first (an empty list when there is none)."""
    return _read_log(path, "checkpoint entry")


def _read_log(path: Path, what: str) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    entries: list[dict[str, Any]] = []
    for raw in iter_lines(path):
        if not raw.terminated:
            continue  # a crash mid-append: the action the entry announces never followed
        try:
            entry = json.loads(raw.text)
        except ValueError as exc:
            raise AuditFormatError(f"{path}:{raw.line_no}: {what} is not JSON: {exc}") from exc
        if not isinstance(entry, dict):
            raise AuditFormatError(f"{path}:{raw.line_no}: {what} is not a JSON object")
        entries.append(entry)
    return entries
