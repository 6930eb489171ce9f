"""The dashboard in headless Chromium: search tab, operations tab, live updates, no network."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, sync_playwright
from service_helpers import make_environment, serving, wait_for, write_flags

from browser_helpers import ARGS, ARTIFACTS, CHROMIUM, DOC_IMAGES
from run_helpers import ALL_ON
from stratloop.service import THRESHOLDS


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    """One headless Chromium for the module's tests (each opens its own context)."""
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


@pytest.fixture
def browser_page(chromium: Browser) -> Iterator[tuple[Page, list[str], list[str]]]:
    """A page in a fresh browser context recording console errors and every request it makes."""
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    requests: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: requests.append(r.url))
    yield page, errors, requests
    context.close()


def _shot(page: Page, name: str, *, doc: bool = False) -> None:
    """A full-page artifact; with ``UPDATE_DOC_IMAGES=1`` and ``doc``, the README's image too."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)
    if doc and os.environ.get("UPDATE_DOC_IMAGES") == "1":
        page.screenshot(path=str(DOC_IMAGES / name), full_page=False)


@pytest.mark.browser
class TestDashboard:
    def test_finished_run_both_tabs(
        self, tmp_path: Path, browser_page: tuple[Page, list[str], list[str]]
    ) -> None:
        """Search tab with champion card and charts; operations tab with every metric."""
        page, errors, requests = browser_page
        root = make_environment(tmp_path, iterations=6)
        flags = root / "flags.env"
        write_flags(flags, ALL_ON)
        with serving(root, flags, iterations=6) as url:
            wait_for(
                lambda: httpx.get(url + "/health", timeout=10).json()["loop_status"] == "completed"
            )
            page.goto(url + "/")
            page.wait_for_selector("#champion-sparkline, svg[data-chart='champion-sparkline']")
            search_text = page.inner_text("#search")
            charts = page.eval_on_selector_all(
                "#search svg.chart", "els => els.map(e => e.dataset.chart)"
            )
            link = page.get_attribute("#tearsheet-link", "href")
            status = page.inner_text("#status")
            _shot(page, "service-dashboard.png", doc=True)
            page.click("#tab-operations")
            operations = page.inner_text("#operations")
            search_hidden = not page.is_visible("#search")
            page.wait_for_timeout(2500)
            tearsheet = httpx.get(url + str(link), timeout=60)
        assert errors == []
        assert all(r.startswith(url) for r in requests), requests
        assert status == "healthy"
        assert "6 / 6 iterations" in " ".join(search_text.split())
        assert {"champion-sparkline", "search-progress", "search-generators"} <= set(charts)
        assert "Recent decisions" in search_text
        assert "Champion lineage" in search_text
        assert tearsheet.status_code == 200
        assert "holdout: sealed" in tearsheet.text
        assert search_hidden
        assert "no audit trail" not in operations
        for t in THRESHOLDS:
            assert t.title in operations, t.title
            assert t.alert_text in operations, t.alert_text

    def test_updates_after_an_iteration_without_reload(
        self, tmp_path: Path, browser_page: tuple[Page, list[str], list[str]]
    ) -> None:
        """While the loop runs, the iteration count and the search view change in place."""
        page, errors, requests = browser_page
        root = make_environment(tmp_path, iterations=3000)
        flags = root / "flags.env"
        write_flags(flags, ALL_ON)
        navigations: list[Any] = []
        with serving(root, flags, iterations=3000) as url:
            page.on("framenavigated", lambda frame: navigations.append(frame.url))
            page.goto(url + "/")
            before = int(page.inner_text("#progress-iterations"))
            page.evaluate("window.__unreloaded = true")
            page.wait_for_function(
                f"Number(document.getElementById('progress-iterations').textContent) > {before}",
                timeout=30_000,
            )
            after = int(page.inner_text("#progress-iterations"))
            still = page.evaluate("window.__unreloaded === true")
            figures = page.inner_text("#search-figures")
            _shot(page, "service-dashboard-live.png")
        assert errors == []
        assert all(r.startswith(url) for r in requests), requests
        assert after > before
        assert still
        assert len(navigations) == 1
        assert int(figures.splitlines()[1].split()[0]) > before
