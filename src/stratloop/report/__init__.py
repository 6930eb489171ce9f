"""Presentation: the pages people read, rendered from data other packages produce.

The self-contained HTML audit report (:func:`write_report`) is built from
verified trails (data flows from :mod:`stratloop.audit` to here, never
back); the champion's tear sheet (:func:`build_tearsheet`,
:func:`write_tearsheet`) from one :class:`ChampionSeries`, the only
place that calls the backtest API (:func:`champion_series`); the search
view (:func:`search_view`, :func:`render_search`) from a run's records.
:func:`template` compiles the Jinja templates of the pages and of the
service's dashboard once per process.
"""

from stratloop.report._charts import Line, chart_css, sparkline
from stratloop.report.audit import ReportData, build_report, render_report, write_report
from stratloop.report.returns import ChampionSeries, Segment, champion_series
from stratloop.report.search import (
    LineageNode,
    SearchFold,
    SearchView,
    render_search,
    search_view,
)
from stratloop.report.tearsheet import (
    CHARTS,
    TearSheet,
    build_tearsheet,
    render_tearsheet,
    segment_verdict,
    write_tearsheet,
)
from stratloop.report.templating import template

__all__ = [
    "CHARTS",
    "ChampionSeries",
    "Line",
    "LineageNode",
    "ReportData",
    "SearchFold",
    "SearchView",
    "Segment",
    "TearSheet",
    "build_report",
    "build_tearsheet",
    "champion_series",
    "chart_css",
    "render_report",
    "render_search",
    "render_tearsheet",
    "search_view",
    "segment_verdict",
    "sparkline",
    "template",
    "write_report",
    "write_tearsheet",
]
