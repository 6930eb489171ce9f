"""The dashboard page in headless Chromium: it renders every metric with no console error."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from playwright.sync_api import sync_playwright
from service_helpers import ALL_ON, make_environment, serving, wait_for, write_flags

from stratloop.service import THRESHOLDS

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.mark.browser
class TestDashboard:
    def test_renders_without_console_errors(self, tmp_path: Path) -> None:
        """The page shows the status, every metric title and threshold; no console errors."""
        root = make_environment(tmp_path, iterations=6)
        flags = root / "flags.env"
        write_flags(flags, ALL_ON)
        with serving(root, flags, iterations=6) as url:
            wait_for(
                lambda: httpx.get(url + "/health", timeout=10).json()["loop_status"] == "completed"
            )
            with sync_playwright() as p:
                browser = p.chromium.launch(
                    executable_path="/usr/bin/chromium",
                    args=[
                        "--headless",
                        "--no-sandbox",
                        "--disable-gpu",
                        "--disable-background-networking",
                        "--disable-component-update",
                        "--no-first-run",
                    ],
                )
                page = browser.new_page()
                errors: list[str] = []
                requests: list[str] = []
                page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
                page.on("pageerror", lambda e: errors.append(str(e)))
                page.on("request", lambda r: requests.append(r.url))
                page.goto(url + "/")
                text = page.inner_text("body")
                ARTIFACTS.mkdir(exist_ok=True)
                page.screenshot(path=str(ARTIFACTS / "service-dashboard.png"), full_page=True)
                status = page.inner_text("#status")
                browser.close()
        assert errors == []
        assert all(r.startswith(url) for r in requests), requests
        assert status == "healthy", text
        assert "no audit trail" not in text
        for t in THRESHOLDS:
            assert t.title in text, t.title
            assert t.alert_text in text, t.alert_text
