"""The HTML reports open in headless Chromium with every section and no console errors."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

from browser_helpers import ARGS, ARTIFACTS, CHROMIUM
from stratloop.acceptance.audit_samples import write_sample_trail
from stratloop.report.audit import _champion_charts, write_report


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    """One headless Chromium for the module's tests (each opens its own context)."""
    assert shutil.which("chromium") or Path(CHROMIUM).exists(), (
        "Chromium is missing: install Debian's package with `apt-get install -y chromium`"
    )
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


def _open(browser: Browser, html: Path, screenshot: Path) -> tuple[list[str], list[str]]:
    errors: list[str] = []
    context = browser.new_context()
    page = context.new_page()
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.route("http*://**", lambda route: (errors.append(route.request.url), route.abort()))
    page.goto(html.as_uri())
    ids = page.eval_on_selector_all("section", "els => els.map(e => e.id)")
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(screenshot), full_page=True)
    context.close()
    return ids, errors


@pytest.mark.browser
class TestReportInBrowser:
    def test_report_renders_every_section(self, tmp_path, chromium):
        """A 60-record report shows every section, makes no request and logs no error."""
        write_sample_trail(tmp_path / "a.jsonl", 60)
        out = tmp_path / "report.html"
        data = write_report([tmp_path / "a.jsonl"], out)
        ids, errors = _open(chromium, out, ARTIFACTS / "audit_report.png")
        assert ids == [section_id for section_id, _ in data.sections]
        assert errors == []
        assert (ARTIFACTS / "audit_report.png").stat().st_size > 0

    def test_empty_final_report_renders(self, tmp_path, chromium):
        """The final report for a trail that does not exist yet opens and says so."""
        out = tmp_path / "final.html"
        data = write_report([tmp_path / "missing.jsonl"], out, phases=True)
        ids, errors = _open(chromium, out, ARTIFACTS / "final_audit_report_empty.png")
        assert "phases" in ids
        assert errors == []
        assert data.empty_reason is not None
        assert "does not exist yet" in out.read_text()


class TestChampionChart:
    def test_one_chart_per_run_with_train_and_validation(self):
        """Records of two runs give two champion charts (never one joined line), labelled axes."""
        def record(run, i, champion, train, test):
            return {
                "run_id": run,
                "iteration_num": i,
                "config_snapshot": {"loop": {"champion_metric": "sharpe"}},
                "outcome": {
                    "champion": champion,
                    "metrics": {"train": {"sharpe": train}, "test": {"sharpe": test}},
                },
            }

        records = [
            record("run-a", 0, True, 1.0, 0.5),
            record("run-a", 1, False, 0.2, 0.1),
            record("run-b", 0, True, 2.0, 1.5),
        ]
        html = _champion_charts(records)
        assert html.count('data-chart="champion-') == 2
        assert "run-a" in html
        assert "run-b" in html
        assert 'class="axis-label x" text-anchor="middle">iteration<' in html
        assert "validation sharpe" in html
