"""Presentation: the pages people read, rendered from data other packages produce.

The self-contained HTML audit report (:func:`write_report`) is built from
verified trails (data flows from :mod:`stratloop.audit` to here, never
back); :func:`template` compiles the Jinja templates of the report and of
the service's dashboard once per process.
"""

from stratloop.report.audit import ReportData, build_report, render_report, write_report
from stratloop.report.templating import template

__all__ = ["ReportData", "build_report", "render_report", "template", "write_report"]
