"""Follow a growing trail: each refresh verifies only what was appended since the last one.

A :class:`TrailFollower` keeps the chain state (the walk of
:mod:`stratloop.audit._walk`, the same one :func:`~stratloop.audit.verify_trail`
uses) and, per file, how many bytes it has verified and their sha256. A
refresh verifies the lines appended since the previous one and reaches the
same verdict a full :func:`~stratloop.audit.verify_trail` would on the same
files: the same breaks, violations, share tests, torn lines and counts.

It follows what the writer does: appends, a torn line completed or moved
aside, rotation (the live file renamed into an archive, compressed or not, and a
new live file started), compression finishing later, and retention (archives
deleted after the retention log records them). Anything else that changes
bytes it already verified cannot be followed by reading appends, so the
follower starts over and verifies the whole trail again, and says why in
:attr:`FollowReport.from_scratch`; changes the writer never makes are also
kept in :attr:`FollowReport.rewrites`. What it checks on every refresh:

- the live file is the same inode, no shorter than what was verified, and
  its verified bytes still have the same sha256 (it re-reads them to hash
  them, without parsing: bounded by the rotation size, not the trail);
- every archive is still there under its name (or its ``.zst`` / ``.gz``), with the
  same inode, size and times; if stat cannot vouch for it (it changed, or
  was stamped too recently for file-system time stamps to be trusted), its
  bytes are hashed again;
- the retention log only grew, and the head file never moved back.

Memory is bounded by the aggregates, not the trail: counts per run, the
iteration numbers of one followed run, first and last timestamps, breaks and
violations found, and the hashes of records the head file does not yet
cover.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from stratloop.audit._files import (
    COMPRESSED_SUFFIXES,
    TrailFiles,
    discover_trails,
    load_archive,
    read_checkpoints,
    read_head,
    read_retention,
    unpack,
)
from stratloop.audit._keys import Keyring
from stratloop.audit._walk import FileState, RecordSink, Tally, TrailWalk
from stratloop.audit.verify import VerifyReport
from stratloop.audit.violations import DEFAULT_ALPHA
from stratloop.errors import AuditFormatError

__all__ = ["FollowReport", "TrailFollower"]

_RACY_NS = 2_000_000_000
"""A stamp within this long of a file's last change is not trusted (file times are coarse)."""

_READ_CHUNK = 1 << 20
_LISTING_ATTEMPTS = 20
_LISTING_BACKOFF_S = 0.002


@dataclass(frozen=True, slots=True)
class FollowReport:
    """One refresh's result: the verdict of a full verify, and the aggregates behind it.

    Args:
        verify: breaks, violations and counts, equal to ``verify_trail`` on the same
            files (its ``records`` is always empty: the follower keeps none).
        runs: intact records per ``run_id``.
        run_iterations: distinct ``iteration_num`` values of the followed run.
        first_timestamp: the earliest record timestamp (ISO text), or None.
        last_timestamp: the latest record timestamp (ISO text), or None.
        appended: intact records this refresh verified.
        from_scratch: why this refresh verified the whole trail (the first
            refresh, or what changed); None when it read only what was appended.
        rewrites: every change to already-verified content the follower has
            seen that the writer never makes (edited, truncated, replaced or
            removed files, a rewritten retention log, a head moved back), oldest first.
    """

    verify: VerifyReport
    runs: Mapping[str, int]
    run_iterations: int
    first_timestamp: str | None
    last_timestamp: str | None
    appended: int
    from_scratch: str | None
    rewrites: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Stamp:
    """What stat says about a file: which inode, how long, when it last changed."""

    dev: int
    ino: int
    size: int
    mtime_ns: int
    ctime_ns: int

    @classmethod
    def of(cls, st: os.stat_result) -> _Stamp:
        return cls(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)

    def same_inode(self, other: _Stamp) -> bool:
        return (self.dev, self.ino) == (other.dev, other.ino)

    def trusted(self, taken_ns: int) -> bool:
        """Whether a later change is sure to show in the times (the last one is old enough)."""
        return max(self.mtime_ns, self.ctime_ns) + _RACY_NS < taken_ns


@dataclass(eq=False, slots=True)
class _Tracked:
    """A file being followed and what it looked like when it was last verified."""

    state: FileState
    stamp: _Stamp
    trusted: bool
    stored: bytes = b""
    """Archives: sha256 of the file's bytes on disk (compressed for ``.zst`` / ``.gz``)."""


@dataclass(slots=True)
class _Listing:
    """One consistent look at a trail: its archives and its live file, opened."""

    taken_ns: int
    archives: tuple[tuple[Path, _Stamp], ...]
    live: BinaryIO | None
    live_stamp: _Stamp | None


@dataclass(frozen=True, slots=True)
class _Reset:
    """Why the follower must start over; ``rewrite``: a change the writer never makes."""

    reason: str
    rewrite: bool = True


@dataclass(slots=True)
class _Plan:
    """What a refresh reads after the checks: new archive bytes, then the live file."""

    adopt: tuple[_Tracked, Path, _Stamp, bytes, bytes] | None = None
    """The former live file as an archive: (file, new name, stamp, stored sha256, content)."""
    fresh: list[tuple[Path, _Stamp]] = field(default_factory=list)
    live: _Tracked | None = None
    """The live file to continue, when it is the same one."""
    drop: _Tracked | None = None
    """A live file with nothing verified that is gone."""


class _Followed:
    """The state of one trail being followed."""

    def __init__(self, live: Path, run_id: str | None, keyring: Keyring | None) -> None:
        self.tally = Tally()
        self.walk = TrailWalk(live, self.tally, keyring)
        self.tracked: list[_Tracked] = []
        self.run_id = run_id
        self.runs: dict[str, int] = {}
        self.iterations: set[Any] = set()
        self.first_timestamp: str | None = None
        self.last_timestamp: str | None = None
        self.appended = 0

    def count(self, record: Mapping[str, Any]) -> None:
        """Add one intact record to the aggregates."""
        run = str(record.get("run_id"))
        self.runs[run] = self.runs.get(run, 0) + 1
        if run == self.run_id:
            self.iterations.add(record.get("iteration_num"))
        stamp = record.get("timestamp")
        if stamp:
            text = str(stamp)
            if self.first_timestamp is None or text < self.first_timestamp:
                self.first_timestamp = text
            if self.last_timestamp is None or text > self.last_timestamp:
                self.last_timestamp = text
        self.appended += 1

    def check(
        self,
        listing: _Listing,
        head: tuple[int, str] | None,
        retention: list[dict[str, Any]],
    ) -> _Plan | _Reset:
        """Compare the trail now with what was verified; what to read, or why to start over."""
        walk = self.walk
        if retention != walk.retention:
            if retention[: len(walk.retention)] == walk.retention:
                names = ", ".join(str(e.get("file")) for e in retention[len(walk.retention) :])
                return _Reset(f"retention deleted {names} (the retention log says so)", False)
            return _Reset("the retention log was rewritten, not appended to")
        if head is not None and walk.floor is not None and head[0] < walk.floor:
            return _Reset(f"the head file moved back from seq {walk.floor} to seq {head[0]}")
        archives = [t for t in self.tracked if t.state.final]
        now = listing.archives
        for index, known in enumerate(archives):
            name = known.state.path.name
            twins = {name, *(name + suffix for suffix in COMPRESSED_SUFFIXES)}
            if index >= len(now) or now[index][0].name not in twins:
                return _Reset(f"archive {known.state.path} is gone and no retention entry says why")
            problem = _recheck_archive(known, *now[index], listing.taken_ns)
            if problem:
                return _Reset(problem)
        return self._plan_live(listing, list(now[len(archives) :]))

    def _plan_live(self, listing: _Listing, new: list[tuple[Path, _Stamp]]) -> _Plan | _Reset:
        """Where the live file went: rotated into the first new archive, or still live.

        Content decides, not the inode: once the rotated file is compressed and
        unlinked, the new live file may get the old inode number.
        """
        live = next((t for t in self.tracked if not t.state.final), None)
        if live is None:
            return _Plan(fresh=new)
        if new:
            return _plan_rotated(live, new)
        if listing.live_stamp is None or not listing.live_stamp.same_inode(live.stamp):
            if live.state.consumed:
                return _Reset(
                    f"the live file {live.state.path} was replaced or removed, and no archive "
                    "holds what was verified in it"
                )
            return _Plan(drop=live)
        problem = _recheck_live(live, listing)
        return _Reset(problem) if problem else _Plan(live=live)

    def fresh_plan(self, listing: _Listing) -> _Plan:
        """Everything is new: every archive, then the live file."""
        return _Plan(fresh=list(listing.archives))

    def apply(self, plan: _Plan, listing: _Listing) -> None:
        """Verify what the plan says is new, in file order."""
        walk = self.walk
        if plan.drop is not None:
            self.tracked.remove(plan.drop)
            walk.files.remove(plan.drop.state)
        if plan.adopt is not None:
            known, path, stamp, stored, content = plan.adopt
            known.state.path = path
            walk.feed(known.state, memoryview(content)[known.state.consumed :], final=True)
            known.stamp, known.trusted, known.stored = (
                stamp,
                stamp.trusted(listing.taken_ns),
                stored,
            )
        for listed, stamp in plan.fresh:
            path, stored_bytes = load_archive(listed)
            state = FileState(path)
            walk.files.append(state)
            self.tracked.append(
                _Tracked(
                    state,
                    stamp,
                    stamp.trusted(listing.taken_ns),
                    hashlib.sha256(stored_bytes).digest(),
                )
            )
            walk.feed(state, unpack(path, stored_bytes), final=True)
        if listing.live is None or listing.live_stamp is None:
            return
        live = plan.live
        if live is None:
            state = FileState(walk.live)
            walk.files.append(state)
            live = _Tracked(state, listing.live_stamp, trusted=False)
            self.tracked.append(live)
            listing.live.seek(0)
        elif live.trusted and live.stamp == listing.live_stamp:
            return
        walk.feed(live.state, listing.live.read(), final=False)
        live.stamp = listing.live_stamp
        live.trusted = listing.live_stamp.trusted(listing.taken_ns)


def _plan_rotated(live: _Tracked, new: list[tuple[Path, _Stamp]]) -> _Plan | _Reset:
    """New archives appeared: the first must begin with what was verified in the live file."""
    path, stored = load_archive(new[0][0])
    stamp = new[0][1]
    content = unpack(path, stored)
    consumed = live.state.consumed
    prefix = hashlib.sha256(memoryview(content)[:consumed]).digest()
    if len(content) < consumed or prefix != live.state.digest.digest():
        return _Reset(
            f"archive {path} appeared but does not begin with the lines verified in the "
            f"live file {live.state.path}"
        )
    return _Plan(adopt=(live, path, stamp, hashlib.sha256(stored).digest(), content), fresh=new[1:])


def _recheck_archive(known: _Tracked, listed: Path, stamp: _Stamp, taken_ns: int) -> str | None:
    """Why an archive verified earlier is not the same any more, or None (and note its stamp)."""
    if listed == known.state.path and known.trusted and stamp == known.stamp:
        return None
    path, stored = load_archive(listed)
    stored_sha = hashlib.sha256(stored).digest()
    if path != known.state.path or stored_sha != known.stored:
        content = unpack(path, stored)
        if (
            len(content) != known.state.consumed
            or hashlib.sha256(content).digest() != known.state.digest.digest()
        ):
            return f"archive {path} changed after it was verified"
    known.state.path = path
    known.stamp, known.trusted, known.stored = stamp, stamp.trusted(taken_ns), stored_sha
    return None


def _recheck_live(live: _Tracked, listing: _Listing) -> str | None:
    """Why the live file no longer starts with what was verified, or None.

    Leaves the open live file positioned after the verified bytes.
    """
    assert listing.live is not None
    assert listing.live_stamp is not None
    consumed = live.state.consumed
    if live.trusted and listing.live_stamp == live.stamp:
        return None
    if listing.live_stamp.size < consumed:
        return (
            f"the live file {live.state.path} shrank to {listing.live_stamp.size} bytes, "
            f"below the {consumed} bytes already verified"
        )
    hasher = hashlib.sha256()
    left = consumed
    listing.live.seek(0)
    while left:
        chunk = listing.live.read(min(left, _READ_CHUNK))
        if not chunk:
            break
        hasher.update(chunk)
        left -= len(chunk)
    if left or hasher.digest() != live.state.digest.digest():
        return f"bytes already verified in the live file {live.state.path} were changed"
    return None


def _archives(trail: TrailFiles) -> tuple[tuple[Path, _Stamp], ...] | None:
    """Each archive with its stamp; None when one vanished while being listed."""
    found = []
    for path in trail.archives:
        try:
            found.append((path, _Stamp.of(path.stat())))
        except FileNotFoundError:
            return None
    return tuple(found)


def _look(live: Path) -> _Listing:
    """List the archives, open the live file, and list again until both lists agree.

    A rotation between the two lists would pair the new live file with the
    old archives; retrying (after a short, growing pause) gives a look in
    which the open live file and the archives belong together.

    Raises:
        AuditFormatError: the trail kept changing, or a file cannot be read.
    """
    for attempt in range(_LISTING_ATTEMPTS):
        time.sleep(attempt * _LISTING_BACKOFF_S)
        taken_ns = time.time_ns()
        before = _archives(TrailFiles.of(live))
        try:
            handle: BinaryIO | None = live.open("rb")
        except FileNotFoundError:
            handle = None
        except OSError as exc:
            raise AuditFormatError(f"cannot read audit file {live}: {exc}") from exc
        after = _archives(TrailFiles.of(live))
        if before is not None and before == after:
            stamp = None if handle is None else _Stamp.of(os.fstat(handle.fileno()))
            return _Listing(taken_ns, before, handle, stamp)
        if handle is not None:
            handle.close()
    raise AuditFormatError(
        f"the audit trail {live} changed under every one of {_LISTING_ATTEMPTS} looks; "
        "refresh again"
    )


def _resolve(path: Path) -> Path:
    """The live file of the one trail at ``path``.

    A live file that is missing while its archives exist is still that trail
    (the writer is between renaming the live file and starting a new one).

    Raises:
        AuditFormatError: no trail, or a directory holding several.
    """
    if not path.exists() and TrailFiles.of(path).archives:
        return path
    trails = discover_trails(path)
    if len(trails) != 1:
        raise AuditFormatError(
            f"{path} holds {len(trails)} audit trails; follow one at a time by its live file "
            f"({', '.join(str(t.live) for t in trails)})"
        )
    return trails[0].live


class TrailFollower:
    """Verifies one trail incrementally; see the module docstring for what it follows.

    Refreshes are serialised (one at a time, whatever thread calls).

    Args:
        path: the trail's live file (which need not exist yet), one of its
            archives, or a directory holding exactly one trail (resolved to
            its live file by the first refresh that finds the trail).
        run_id: the run whose iteration numbers to collect (for completeness).
        alpha: significance level of the run-level LLM-share test.
        keyring: the trail's HMAC keys; without them signed records are checked for
            linkage only (as :func:`verify_trail` does).
    """

    def __init__(
        self,
        path: Path,
        *,
        run_id: str | None = None,
        alpha: float = DEFAULT_ALPHA,
        keyring: Keyring | None = None,
    ) -> None:
        self.path = Path(path)
        self.run_id = run_id
        self.alpha = alpha
        self.keyring = keyring
        self._state: _Followed | None = None
        self._why_new = "first refresh"
        self._rewrites: list[str] = []
        self._lock = threading.Lock()

    def refresh(self, sink: RecordSink | None = None) -> FollowReport:
        """Verify what was appended since the last refresh (everything, the first time).

        Args:
            sink: receives each intact record this refresh verifies, in trail order.

        Raises:
            AuditFormatError: there is no trail at the path, or a file cannot be
                read. A failure while looking at the files keeps what was
                verified; one while verifying new lines makes the next refresh
                start over (and say so).
        """
        with self._lock:
            return self._refresh(sink)

    def _refresh(self, sink: RecordSink | None) -> FollowReport:
        state = self._state
        live = _resolve(self.path) if state is None else state.walk.live
        trail = TrailFiles.of(live)
        head = read_head(trail.head)
        listing = _look(live)
        try:
            retention = read_retention(trail.retention_log)
            torn_files = trail.torn_files
            plan = None if state is None else state.check(listing, head, retention)
            from_scratch: str | None = None
            if state is None or not isinstance(plan, _Plan):
                reset = plan if isinstance(plan, _Reset) else _Reset(self._why_new, rewrite=False)
                if reset.rewrite:
                    self._rewrites.append(reset.reason)
                from_scratch = reset.reason
                state = _Followed(live, self.run_id, self.keyring)
                plan = state.fresh_plan(listing)
            self._state = state
            state.appended = 0
            state.walk.observe(
                head, retention, read_checkpoints(trail.checkpoints), trail.checkpoints
            )
            state.tally.sink = _fan_out(state.count, sink)
            try:
                state.apply(plan, listing)
            except BaseException as exc:
                self._state = None
                self._why_new = f"the previous refresh failed ({type(exc).__name__}: {exc})"
                raise
            return FollowReport(
                verify=VerifyReport(
                    (state.walk.report(torn_files),), state.tally.report(self.alpha)
                ),
                runs=dict(state.runs),
                run_iterations=len(state.iterations),
                first_timestamp=state.first_timestamp,
                last_timestamp=state.last_timestamp,
                appended=state.appended,
                from_scratch=from_scratch,
                rewrites=tuple(self._rewrites),
            )
        finally:
            if listing.live is not None:
                listing.live.close()


def _fan_out(count: RecordSink, sink: RecordSink | None) -> RecordSink:
    if sink is None:
        return count

    def both(record: Mapping[str, Any]) -> None:
        count(record)
        sink(record)

    return both
