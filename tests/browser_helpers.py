"""What the browser tests share: Debian's Chromium, its headless arguments, where images go."""

from __future__ import annotations

from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
"""Debian's chromium, which Playwright drives (``make`` installs it where it can)."""

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
"""Screenshots every browser test leaves for a human to look at."""

DOC_IMAGES = ROOT / "docs" / "img"
"""The README's images, rewritten only with ``UPDATE_DOC_IMAGES=1``."""

ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
"""Headless, and no network of Chromium's own (a test counts every request the page makes)."""
