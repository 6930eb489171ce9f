"""Real small disks for the tests of what a full or read-only disk does: a tmpfs per test."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


@contextmanager
def tmpfs(mount: Path, options: str, *, required: bool = True) -> Iterator[Path]:
    """A tmpfs mounted at ``mount`` (created) with ``options`` (``size=64k``), unmounted after.

    Mounting needs root: where it is refused, a ``required`` disk fails the
    test with the reason, any other skips it.
    """
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        reason = done.stderr.decode().strip()
        if required:
            pytest.fail(f"mounting a tmpfs needs root: {reason}")
        pytest.skip(f"cannot mount a tmpfs here: {reason}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)
