"""The champion's tear sheet of a real run: its content, its charts, and in a browser."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest
from playwright.sync_api import sync_playwright

from browser_helpers import ARGS, ARTIFACTS, CHROMIUM, DOC_IMAGES
from stratloop.cli._champion import stored_config
from stratloop.loop.history import read_history
from stratloop.loop.holdout import selection_verdict
from stratloop.report.analytics import yearly_returns
from stratloop.report.tearsheet import CHARTS, render_tearsheet, write_tearsheet
from stratloop.service.runs import RunReader


def _chart(html: str, name: str) -> str:
    """The SVG of the chart ``name`` (an assertion error when it is missing)."""
    match = re.search(rf'<svg[^>]*data-chart="{name}".*?</svg>', html, re.DOTALL)
    assert match, f"no chart {name!r}"
    return match.group(0)


@pytest.fixture(scope="module")
def page_html(finished_run: tuple[Path, str]) -> str:
    """The rendered tear sheet of the shared run."""
    runs_dir, run_id = finished_run
    return render_tearsheet(RunReader(runs_dir).tearsheet(run_id))


class TestContent:
    def test_every_chart_with_both_axes_labelled(self, page_html: str) -> None:
        """Each listed chart is an inline SVG with a labelled x and y axis."""
        for name in CHARTS:
            svg = _chart(page_html, name)
            assert re.search(r'class="axis-label x"[^>]*>[^<]+<', svg), name
            assert re.search(r'class="axis-label y"[^>]*>[^<]+<', svg), name

    def test_time_axes_are_dates(self, page_html: str) -> None:
        """The x axis of every chart over time says 'date' and its ticks are years."""
        for name in ("cumulative", "drawdown", "rolling-sharpe", "rolling-beta", "ic", "turnover"):
            svg = _chart(page_html, name)
            assert 'class="axis-label x" text-anchor="middle">date<' in svg, name
            ticks = re.findall(r'class="tick" text-anchor="middle">([^<]+)<', svg)
            assert ticks, name
            assert all(re.fullmatch(r"\d{4}(-\d\d)?", t) for t in ticks), (name, ticks)

    def test_segments_holdout_and_comparisons(self, page_html: str) -> None:
        """Train and validation are marked, the holdout says sealed, each segment has its t-test."""
        assert "train from " in page_html
        assert "validation from " in page_html
        assert "holdout: sealed" in page_html
        lines = re.findall(r'<p class="comparison" data-segment="(\w+)">([^<]+)<', page_html)
        assert [segment for segment, _ in lines] == ["train", "validation"]
        for _, text in lines:
            assert "one comparison, not deflated" in text
            assert "distinguishable" not in text

    def test_deflated_verdict_with_n_and_v(self, finished_run: tuple[Path, str]) -> None:
        """Issue 12: the page's verdict is the deflated one, with N and V, as ``show`` prints it."""
        runs_dir, run_id = finished_run
        sheet = RunReader(runs_dir).tearsheet(run_id)
        html = render_tearsheet(sheet)
        champion = sheet.champion
        records = read_history(runs_dir / run_id / "history.jsonl").records
        expected = selection_verdict(champion, records, stored_config(runs_dir / run_id))
        assert expected is not None
        assert sheet.selection == expected
        verdict = re.search(r'<p class="verdict (yes|no)" id="deflated-verdict">(.*?)</p>', html)
        assert verdict is not None
        assert verdict.group(1) == ("yes" if expected.verdict.distinguishable else "no")
        word = "distinguishable" if expected.verdict.distinguishable else "not distinguishable"
        assert (
            f"{word} from equal weight after deflation for {expected.n_trials} trials"
            in verdict.group(2)
        )
        table = re.search(r'<table id="deflated">.*?</table>', html, re.DOTALL)
        assert table is not None
        cells = dict(re.findall(r"<tr><td>([^<]+)</td><td>([^<]+)</td></tr>", table.group(0)))
        assert cells["N, distinct candidates evaluated"] == str(expected.n_trials)
        assert cells["V, variance of their validation Sharpe ratios"] == f"{expected.variance:.3g}"
        assert cells["deflated Sharpe (at least 0.95 needed)"] == f"{expected.deflated_sharpe:.3f}"

    def test_yearly_table_is_the_compounded_returns(self, finished_run: tuple[Path, str]) -> None:
        """The yearly table's strategy column is each year's compounded return."""
        runs_dir, run_id = finished_run
        sheet = RunReader(runs_dir).tearsheet(run_id)
        html = render_tearsheet(sheet)
        table = re.search(r'<table id="yearly-table">.*?</table>', html, re.DOTALL).group(0)
        rows = re.findall(r"<tr><td>(\d{4})</td><td>([-\d.]+)%</td>", table)
        expected = yearly_returns(sheet.series.dates, sheet.series.returns)
        assert [int(y) for y, _ in rows] == list(expected)
        for year, shown in rows:
            assert float(shown) == pytest.approx(round(expected[int(year)] * 100, 2), abs=0.006)

    def test_lineage_and_spec(self, finished_run: tuple[Path, str], page_html: str) -> None:
        """The spec is printed and the lineage names the generator of the champion."""
        runs_dir, run_id = finished_run
        champion = RunReader(runs_dir).progress(run_id).info.champion
        assert champion is not None
        assert champion["spec"]["expression"].replace("'", "&#39;") in page_html
        assert f'data-candidate="{champion["candidate_id"]}"' in page_html
        assert "factor_graph" in page_html

    def test_no_external_reference(self, page_html: str) -> None:
        """Self-contained: no script, no stylesheet link, no http(s) URL other than SVG's xmlns."""
        assert "<script" not in page_html
        assert '<link rel="stylesheet"' not in page_html
        urls = set(re.findall(r"https?://[^\"' )]+", page_html))
        assert urls <= {"http://www.w3.org/2000/svg"}


@pytest.mark.browser
class TestInBrowser:
    def test_loads_with_every_chart_and_no_request(
        self, finished_run: tuple[Path, str], tmp_path: Path
    ) -> None:
        """Chromium shows every chart with labelled axes; no console error, no request at all."""
        runs_dir, run_id = finished_run
        html = write_tearsheet(RunReader(runs_dir).tearsheet(run_id), tmp_path / "sheet.html")
        errors: list[str] = []
        requests: list[str] = []
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.route(
                "http*://**", lambda route: (requests.append(route.request.url), route.abort())
            )
            page.goto(html.as_uri())
            shown = page.eval_on_selector_all(
                "svg.chart",
                """els => els.map(e => [e.dataset.chart,
                    (e.querySelector('.axis-label.x') || {}).textContent || '',
                    (e.querySelector('.axis-label.y') || {}).textContent || ''])""",
            )
            verdict_visible = page.is_visible("#deflated-verdict")
            verdict_text = page.inner_text("#deflated-verdict")
            deflated_rows = page.eval_on_selector_all(
                "#deflated tr td:first-child", "els => els.map(e => e.textContent)"
            )
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "tearsheet.png"), full_page=True)
            page.check("#log-toggle")
            log_visible = page.is_visible('svg[data-chart="cumulative-log"]')
            linear_hidden = not page.is_visible('svg[data-chart="cumulative"]')
            if os.environ.get("UPDATE_DOC_IMAGES") == "1":
                page.uncheck("#log-toggle")
                top = page.eval_on_selector("#returns", "e => e.getBoundingClientRect().top")
                clip = {"x": 0, "y": top + page.evaluate("scrollY"), "width": 1100, "height": 900}
                page.screenshot(path=str(DOC_IMAGES / "tearsheet.png"), clip=clip, full_page=True)
                bottom = page.eval_on_selector("#metrics", "e => e.getBoundingClientRect().top")
                head = {"x": 0, "y": 0, "width": 1100, "height": bottom + page.evaluate("scrollY")}
                page.screenshot(
                    path=str(DOC_IMAGES / "tearsheet-verdict.png"), clip=head, full_page=True
                )
            browser.close()
        assert errors == []
        assert requests == []
        by_name = {name: (x, y) for name, x, y in shown}
        for name in CHARTS:
            assert name in by_name, name
            assert all(by_name[name]), (name, by_name[name])
        assert log_visible
        assert linear_hidden
        assert verdict_visible
        assert "from equal weight after deflation for" in verdict_text
        assert any(row.startswith("N,") for row in deflated_rows)
        assert any(row.startswith("V,") for row in deflated_rows)
        assert np.isfinite(RunReader(runs_dir).series(run_id).returns).all()
