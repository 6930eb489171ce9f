"""The self-contained HTML audit report (Jinja2; inline CSS and SVG, no scripts, no network).

Sections: summary statistics, decision timeline, cumulative LLM share
against the configured rate, violations ("0 violations" when none), chain
integrity, configuration adherence, configuration snapshots and their
changes, champion metric over iterations, audit overhead distribution, and
(for the final report) a per-phase summary.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any

import numpy as np

from stratloop.audit import (
    VerifyReport,
    canonical_json,
    detect_violations,
    is_iteration_record,
    verify_trail,
)
from stratloop.report import _svg
from stratloop.report._charts import Line, index_ticks, line_chart
from stratloop.report.templating import template

__all__ = ["ReportData", "build_report", "render_report", "write_report"]

_SECTIONS = (
    ("summary", "Summary statistics"),
    ("timeline", "Decision timeline"),
    ("llm-share", "Cumulative LLM share against the configured rate"),
    ("violations", "Violations"),
    ("integrity", "Chain integrity"),
    ("adherence", "Configuration adherence"),
    ("snapshots", "Configuration snapshots and changes"),
    ("champion", "Champion metric over iterations"),
    ("overhead", "Audit overhead distribution"),
)


@dataclass(frozen=True, slots=True)
class ReportData:
    """Everything the template shows, computed once from the records."""

    title: str
    sources: tuple[str, ...]
    period: str
    generated_at: str
    empty_reason: str | None
    summary: Mapping[str, Any]
    charts: Mapping[str, str]
    violations: tuple[Mapping[str, Any], ...]
    shares: tuple[Mapping[str, Any], ...]
    breaks: tuple[str, ...]
    torn: tuple[str, ...]
    retention: tuple[str, ...]
    adherence: Mapping[str, Any]
    segments: tuple[Mapping[str, Any], ...]
    overhead: Mapping[str, Any]
    phases: tuple[Mapping[str, Any], ...] = ()
    sections: tuple[tuple[str, str], ...] = field(default=_SECTIONS)


def _in_period(record: Mapping[str, Any], start: dt.date | None, end: dt.date | None) -> bool:
    day = record["timestamp"][:10]
    return (start is None or day >= start.isoformat()) and (end is None or day <= end.isoformat())


def build_report(
    verified: VerifyReport,
    *,
    title: str,
    sources: Sequence[str],
    start: dt.date | None = None,
    end: dt.date | None = None,
    phases: bool = False,
    empty_reason: str | None = None,
) -> ReportData:
    """Compute the report from a verify result made with ``keep_records=True``.

    Records of every trail (instance) are merged in timestamp order and
    filtered to ``[start, end]`` (UTC days, inclusive).
    """
    records = sorted(
        (r for r in verified.records if is_iteration_record(r) and _in_period(r, start, end)),
        key=lambda r: (r["timestamp"], r["instance_id"], r["seq"]),
    )
    violations = detect_violations((f"seq {r['seq']}", r) for r in records)
    period = f"{start or 'first record'} to {end or 'last record'} (UTC)"
    if not records and empty_reason is None:
        empty_reason = f"no audit records in {period}"
    return ReportData(
        title=title,
        sources=tuple(sources),
        period=period,
        generated_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        empty_reason=empty_reason,
        summary=_summary(records),
        charts=_charts(records) if records else {},
        violations=tuple(
            {"seq": v.seq, "iteration": v.iteration_num, "reason": v.reason, "where": v.where}
            for v in violations.records
        ),
        shares=tuple(
            {
                "config_hash": t.config_hash,
                "trials": t.trials,
                "llm_decided": t.llm_decided,
                "llm_used": t.llm_used,
                "expected": f"{t.expected_rate:.2%}",
                "observed": f"{t.observed_rate:.2%}",
                "p_value": f"{t.p_value:.3g}",
                "violated": t.violated,
            }
            for t in violations.shares
        ),
        breaks=tuple(str(item) for item in verified.breaks),
        torn=tuple(t for trail in verified.trails for t in trail.torn),
        retention=tuple(t for trail in verified.trails for t in trail.retention),
        adherence=_adherence(records, violations.count),
        segments=_segments(records),
        overhead=_overhead(records),
        phases=_phases(records) if phases else (),
        sections=(*_SECTIONS, ("phases", "Phases")) if phases else _SECTIONS,
    )


def _summary(records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    decided = Counter(r["decision"]["method"] for r in records)
    used = Counter(str(r["generation_method_used"]) for r in records)
    status = Counter(r["outcome"]["status"] for r in records)
    tokens = sum(int((r["llm_usage"] or {}).get("total_tokens") or 0) for r in records)
    return {
        "Records": len(records),
        "Runs": len({r["run_id"] for r in records}),
        "Instances": len({r["instance_id"] for r in records}),
        "First record": records[0]["timestamp"] if records else "-",
        "Last record": records[-1]["timestamp"] if records else "-",
        "Decided LLM / factor graph": f"{decided['llm']} / {decided['factor_graph']}",
        "Used LLM / factor graph / none": (
            f"{used['llm']} / {used['factor_graph']} / {used['None']}"
        ),
        "Success / failed / timeout": (
            f"{status['success']} / {status['failed']} / {status['timeout']}"
        ),
        "Fallbacks": sum(r["fallback"] is not None for r in records),
        "New champions": sum(r["outcome"]["champion"] for r in records),
        "LLM tokens": tokens,
    }


def _expected_llm(record: Mapping[str, Any]) -> float:
    decision = record["decision"]
    if decision["rule"] == "explicit_llm":
        return 1.0
    if decision["rule"] == "explicit_factor_graph":
        return 0.0
    return float(decision["innovation_rate"]) / 100.0


def _charts(records: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    count = len(records)
    n_bins = min(count, 120)
    bins = [[0, 0, 0] for _ in range(n_bins)]
    for index, record in enumerate(records):
        lane = 2 if record["violation"] else (0 if record["generation_method_used"] == "llm" else 1)
        bins[index * n_bins // count][lane] += 1
    used_llm = expected = 0.0
    observed_share, expected_share = [], []
    for index, record in enumerate(records, start=1):
        used_llm += record["generation_method_used"] == "llm"
        expected += _expected_llm(record)
        observed_share.append(used_llm / index)
        expected_share.append(expected / index)
    return {
        "timeline": _svg.stacked_bins(
            f"Decisions over {count} records in {n_bins} bins",
            ("llm", "factor_graph", "violation"),
            bins,
        ),
        "llm_share": _svg.lines(
            "Cumulative LLM share",
            (
                ("LLM share used", "observed", observed_share),
                ("configured rate", "expected", expected_share),
            ),
            "share of records",
        ),
        "champion": _champion_charts(records),
    }


_CHAMPION_RUNS = 12
"""The champion chart is drawn for the most recent runs of the records only."""


def _champion_charts(records: Sequence[Mapping[str, Any]]) -> str:
    """One chart per run (runs are never joined): the champion's train and validation metric."""
    by_run: dict[str, list[Mapping[str, Any]]] = {}
    for record in records:
        by_run.setdefault(str(record.get("run_id") or "unknown"), []).append(record)
    charts = []
    for number, (run_id, run_records) in enumerate(list(by_run.items())[-_CHAMPION_RUNS:]):
        metric_name = _champion_metric(run_records[0])
        train, validation = [], []
        best_train = best_validation = math.nan
        for record in run_records:
            if record["outcome"]["champion"]:
                best_train = _or_nan(_metric(record, metric_name))
                best_validation = _or_nan(_metric(record, metric_name, "validation"))
            train.append(best_train)
            validation.append(best_validation)
        iterations = [int(r["iteration_num"]) for r in run_records]
        charts.append(
            f'<p class="chart-title">Run <code>{escape(run_id)}</code></p>'
            + line_chart(
                f"champion-{number}",
                f"Run {run_id}: the champion's train and validation {metric_name}",
                [
                    Line(f"train {metric_name}", "strategy", np.array(train)),
                    Line(f"validation {metric_name}", "test", np.array(validation)),
                ],
                x_ticks=index_ticks(iterations),
                x_label="iteration",
                y_label=metric_name,
            )
        )
    return "".join(charts)


def _or_nan(value: float | None) -> float:
    return math.nan if value is None else value


def _champion_metric(record: Mapping[str, Any]) -> str:
    loop = record["config_snapshot"].get("loop") or {}
    return str(loop.get("champion_metric", "sharpe"))


def _metric(record: Mapping[str, Any], name: str, period: str = "train") -> float | None:
    metrics = record["outcome"]["metrics"] or {}
    part = metrics.get(period)
    if period == "validation" and not isinstance(part, Mapping):
        part = metrics.get("test")  # records of the train/test protocol (history schema 1-2)
    if not isinstance(part, Mapping):
        part = metrics if period == "train" else None
    value = part.get(name) if isinstance(part, Mapping) else None
    return float(value) if isinstance(value, (int, float)) else None


def _adherence(records: Sequence[Mapping[str, Any]], violation_count: int) -> dict[str, Any]:
    total = len(records)
    honoured = sum(
        r["generation_method_used"] in (None, r["decision"]["method"]) or r["fallback"] is not None
        for r in records
    )
    fallbacks = Counter(r["fallback"]["kind"] for r in records if r["fallback"])
    implementations = Counter(r["implementation"] for r in records)
    rate = f"{(total - violation_count) / total:.2%}" if total else "-"
    return {
        "Configuration priority adherence": rate,
        "Method used equals decision (or a recorded fallback)": (
            f"{honoured}/{total}" if total else "-"
        ),
        "Explicit (configured) fallbacks": fallbacks["explicit"],
        "Silent fallbacks": fallbacks["silent"],
        "Violations": violation_count,
        "Implementations": ", ".join(f"{k}: {v}" for k, v in sorted(implementations.items()))
        or "-",
    }


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: value}


def _segments(records: Sequence[Mapping[str, Any]]) -> tuple[dict[str, Any], ...]:
    segments: list[dict[str, Any]] = []
    previous: dict[str, Any] | None = None
    for record in records:
        if segments and segments[-1]["config_hash"] == record["config_hash"]:
            segments[-1]["records"] += 1
            segments[-1]["last"] = record["timestamp"]
            continue
        flat = _flatten(record["config_snapshot"])
        changes = (
            [
                {"field": key, "before": previous.get(key), "after": flat.get(key)}
                for key in sorted(set(flat) | set(previous))
                if previous.get(key) != flat.get(key)
            ]
            if previous is not None
            else []
        )
        segments.append(
            {
                "config_hash": record["config_hash"],
                "first": record["timestamp"],
                "last": record["timestamp"],
                "records": 1,
                "changes": changes,
                "snapshot": canonical_json(record["config_snapshot"]),
            }
        )
        previous = flat
    return tuple(segments)


def _percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _overhead(records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    values = [
        float(r["timings"]["audit_ms"])
        for r in records
        if isinstance(r["timings"].get("audit_ms"), (int, float))
    ]
    if not values:
        return {"count": 0, "chart": "", "stats": {}}
    top = max(values)
    n_bins = 20
    width = top / n_bins or 1.0
    counts = [0] * n_bins
    for value in values:
        counts[min(int(value / width), n_bins - 1)] += 1
    labels = [f"{i * width:.3f}" for i in range(n_bins)]
    return {
        "count": len(values),
        "chart": _svg.bars("Audit overhead per record (ms)", labels, counts, "records"),
        "stats": {
            "p50 (ms)": f"{_percentile(values, 0.50):.4f}",
            "p95 (ms)": f"{_percentile(values, 0.95):.4f}",
            "p99 (ms)": f"{_percentile(values, 0.99):.4f}",
            "max (ms)": f"{top:.4f}",
            "budget (ms)": "5",
        },
    }


def _phases(records: Sequence[Mapping[str, Any]]) -> tuple[dict[str, Any], ...]:
    rows = []
    for phase in (1, 2, 3, 4):
        key = f"phase{phase}_enabled"
        on = [r for r in records if (r["flags"] or {}).get(key) is True]
        rows.append(
            {
                "phase": phase,
                "records": len(on),
                "violations": sum(r["violation"] for r in on),
                "silent_fallbacks": sum(
                    bool(r["fallback"]) and r["fallback"]["kind"] == "silent" for r in on
                ),
                "failed": sum(r["outcome"]["status"] != "success" for r in on),
            }
        )
    return tuple(rows)


def render_report(data: ReportData) -> str:
    """The report as one HTML document."""
    return template("stratloop.report", "audit.html.j2").render(data=data)


def write_report(
    paths: Sequence[Path],
    output: Path,
    *,
    title: str = "stratloop audit report",
    start: dt.date | None = None,
    end: dt.date | None = None,
    phases: bool = False,
) -> ReportData:
    """Verify the trails at ``paths``, merge their records and write the report to ``output``.

    A path that does not exist gives an empty-state report that says so
    (the caller decides the exit code).

    Raises:
        AuditFormatError: a path exists but holds no audit files.
    """
    existing = [path for path in paths if path.exists()]
    missing = [str(path) for path in paths if not path.exists()]
    verified = _merge([verify_trail(path, keep_records=True) for path in existing])
    reason = f"no audit trail at {', '.join(missing)} (it does not exist yet)" if missing else None
    data = build_report(
        verified,
        title=title,
        sources=[str(path) for path in paths],
        start=start,
        end=end,
        phases=phases,
        empty_reason=reason if not existing else None,
    )
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(render_report(data), encoding="utf-8")
    return data


def _merge(reports: Sequence[VerifyReport]) -> VerifyReport:
    if len(reports) == 1:
        return reports[0]
    return VerifyReport(
        trails=tuple(t for r in reports for t in r.trails),
        violations=detect_violations(()),
        records=tuple(rec for r in reports for rec in r.records),
    )
