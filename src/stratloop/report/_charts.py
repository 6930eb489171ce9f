"""Inline SVG charts with labelled axes: lines over dates or iterations, bars, a heatmap.

No scripts and no network: each chart is one ``<svg class="chart">`` with a
``data-chart`` name, a title, tick labels on both axes and an axis label
(``class="axis-label x"`` / ``"axis-label y"``) on each, so a reader (or a
browser test) can tell what is plotted against what.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from html import escape
from importlib.resources import files

import numpy as np
import numpy.typing as npt

__all__ = [
    "Line",
    "bar_chart",
    "chart_css",
    "date_ticks",
    "grid_heatmap",
    "heatmap",
    "index_ticks",
    "line_chart",
    "pct",
    "sparkline",
]

_W, _H = 820, 260
_LEFT, _RIGHT, _TOP, _BOTTOM = 64, 16, 28, 46
_MAX_POINTS = 1200

Floats = npt.NDArray[np.float64]
Tick = tuple[float, str]


@dataclass(frozen=True, slots=True)
class Line:
    """One series of a line chart: legend name, CSS class and values (NaN: a gap)."""

    name: str
    css: str
    values: Floats


@functools.cache
def chart_css() -> str:
    """The charts' stylesheet, for pages that inline these charts (the dashboard)."""
    return (files("stratloop.report") / "templates" / "charts.css").read_text(encoding="utf-8")


def pct(value: float) -> str:
    """A fraction as a percentage for tick labels: 0.125 -> '12.5%'."""
    return f"{value * 100:.3g}%"


def _num(value: float) -> str:
    return f"{value:.3g}"


def date_ticks(dates: npt.NDArray[np.datetime64], count: int = 8) -> list[tuple[int, str]]:
    """Tick positions (row indices) at year starts, or month starts for short spans."""
    if len(dates) == 0:
        return []
    years = dates.astype("datetime64[Y]").astype(np.int64)
    span_years = years[-1] - years[0]
    unit, fmt = ("datetime64[Y]", "%Y") if span_years >= 2 else ("datetime64[M]", "%Y-%m")
    periods = dates.astype(unit).astype(np.int64)
    starts = np.flatnonzero(np.r_[True, periods[1:] != periods[:-1]])
    step = max(1, math.ceil(len(starts) / count))
    chosen = starts[::step]
    return [(int(i), dates[i].astype("datetime64[D]").item().strftime(fmt)) for i in chosen]


def index_ticks(labels: Sequence[int], count: int = 8) -> list[tuple[int, str]]:
    """Tick positions for an integer axis (iterations): about ``count`` evenly spaced."""
    step = max(1, math.ceil(len(labels) / count))
    return [(i, str(labels[i])) for i in range(0, len(labels), step)]


def _nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    if not (math.isfinite(low) and math.isfinite(high)) or high <= low:
        return [low]
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = min((m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw), default=raw)
    first = math.ceil(low / step) * step
    return [first + k * step for k in range(int((high - first) / step + 1e-9) + 1)]


def _svg(chart: str, title: str, body: str, *, width: int = _W, height: int = _H) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
        f'class="chart" data-chart="{escape(chart)}" aria-label="{escape(title)}">'
        f"<title>{escape(title)}</title>{body}</svg>"
    )


def _axes(
    x_ticks: Sequence[Tick],
    y_ticks: Sequence[Tick],
    x_label: str,
    y_label: str,
    *,
    width: int = _W,
    height: int = _H,
    y_label_x: float = 14,
) -> str:
    """Frame, grid, tick labels and both axis labels (positions already in pixels)."""
    bottom = height - _BOTTOM
    parts = [
        f'<line x1="{_LEFT}" y1="{bottom}" x2="{width - _RIGHT}" y2="{bottom}" class="axis"/>',
        f'<line x1="{_LEFT}" y1="{_TOP}" x2="{_LEFT}" y2="{bottom}" class="axis"/>',
    ]
    for y, text in y_ticks:
        parts.append(
            f'<line x1="{_LEFT}" y1="{y:.1f}" x2="{width - _RIGHT}" y2="{y:.1f}" class="grid"/>'
            f'<text x="{_LEFT - 5}" y="{y + 4:.1f}" class="tick" text-anchor="end">'
            f"{escape(text)}</text>"
        )
    for x, text in x_ticks:
        parts.append(
            f'<line x1="{x:.1f}" y1="{bottom}" x2="{x:.1f}" y2="{bottom + 4}" class="axis"/>'
            f'<text x="{x:.1f}" y="{bottom + 16}" class="tick" text-anchor="middle">'
            f"{escape(text)}</text>"
        )
    parts.append(
        f'<text x="{(_LEFT + width - _RIGHT) / 2:.0f}" y="{height - 6}" '
        f'class="axis-label x" text-anchor="middle">{escape(x_label)}</text>'
        f'<text x="{y_label_x:g}" y="{(_TOP + bottom) / 2:.0f}" class="axis-label y" '
        f'text-anchor="middle" transform="rotate(-90 {y_label_x:g} {(_TOP + bottom) / 2:.0f})">'
        f"{escape(y_label)}</text>"
    )
    return "".join(parts)


def _legend(items: Sequence[tuple[str, str]], width: int = _W) -> str:
    x = _LEFT + 8
    out = []
    for name, css in items:
        out.append(
            f'<rect x="{x}" y="8" width="12" height="4" class="{escape(css)} key"/>'
            f'<text x="{x + 16}" y="14" class="legend">{escape(name)}</text>'
        )
        x += 28 + 7 * len(name)
    del width
    return "".join(out)


def line_chart(
    chart: str,
    title: str,
    lines: Sequence[Line],
    *,
    x_ticks: Sequence[tuple[int, str]],
    x_label: str,
    y_label: str,
    y_format: Callable[[float], str] = _num,
    log: bool = False,
    markers: Sequence[tuple[int, str]] = (),
    zero: bool = False,
    fill: bool = False,
) -> str:
    """Lines over a shared x axis of row positions ``0..n-1``.

    Args:
        chart: the chart's name (``data-chart``).
        title: the chart's title.
        lines: the series, all of the same length.
        x_ticks: ``(row, label)`` ticks of the x axis.
        x_label: the x axis label.
        y_label: the y axis label.
        y_format: formats y tick values.
        log: log-scale y (values must be positive).
        markers: ``(row, label)`` vertical lines (segment boundaries).
        zero: draw the y = 0 line.
        fill: fill the area between the first line and zero (underwater charts).
    """
    n = max((len(line.values) for line in lines), default=0)
    low, high = _range(lines, log=log, zero=zero)

    def scale(v: float) -> float:
        return math.log10(v) if log else v

    top, bottom = scale(high), scale(low)

    def py(v: float) -> float:
        return _TOP + (top - scale(v)) / (top - bottom) * (_H - _TOP - _BOTTOM)

    def px(i: float) -> float:
        return _LEFT + i / max(n - 1, 1) * (_W - _LEFT - _RIGHT)

    ticks = [10**e for e in _nice_ticks(bottom, top)] if log else _nice_ticks(low, high)
    body = [
        _axes(
            [(px(i), t) for i, t in x_ticks],
            [(py(v), y_format(v)) for v in ticks],
            x_label,
            y_label,
        )
    ]
    if zero and low < 0 < high:
        body.append(
            f'<line x1="{_LEFT}" y1="{py(0.0):.1f}" x2="{_W - _RIGHT}" y2="{py(0.0):.1f}" '
            'class="zero"/>'
        )
    body.extend(
        f'<line x1="{px(row):.1f}" y1="{_TOP}" x2="{px(row):.1f}" y2="{_H - _BOTTOM}" '
        f'class="marker"/><text x="{px(row) + 3:.1f}" y="{_H - _BOTTOM - 4}" class="marker-label">'
        f"{escape(label)}</text>"
        for row, label in markers
    )
    step = max(1, math.ceil(n / _MAX_POINTS))
    for k, line in enumerate(lines):
        runs = _points(line.values, step, px, py, positive=log)
        if fill and k == 0 and runs:
            body.append(_area(runs, py(0.0), line.css))
        body.extend(_polylines(runs, line.css))
    body.append(_legend([(line.name, line.css) for line in lines]))
    return _svg(chart, title, "".join(body))


def _range(lines: Sequence[Line], *, log: bool, zero: bool) -> tuple[float, float]:
    """The y range of the lines' finite values (positive ones on a log scale)."""
    finite = _finite(lines)
    if log:
        finite = finite[finite > 0]
    low = float(finite.min()) if finite.size else 0.0
    high = float(finite.max()) if finite.size else 1.0
    if zero:
        low, high = min(low, 0.0), max(high, 0.0)
    if high - low < 1e-12:
        low, high = (low / 2, high * 2) if log and low > 0 else (low - 0.5, high + 0.5)
    return low, high


def _finite(lines: Sequence[Line]) -> Floats:
    parts = [line.values[np.isfinite(line.values)] for line in lines]
    return np.concatenate(parts) if parts else np.zeros(0)


def _area(runs: Sequence[Sequence[str]], zero_y: float, css: str) -> str:
    """A polygon between the runs' points and the zero line."""
    first, last = runs[0][0].split(",")[0], runs[-1][-1].split(",")[0]
    path = " ".join(" ".join(run) for run in runs)
    return (
        f'<polygon points="{first},{zero_y:.1f} {path} {last},{zero_y:.1f}" '
        f'class="{escape(css)} area"/>'
    )


def _polylines(runs: Sequence[Sequence[str]], css: str) -> list[str]:
    return [
        f'<polyline points="{" ".join(run)}" class="{escape(css)}" fill="none"/>' for run in runs
    ]


def _points(
    values: Floats,
    step: int,
    px: Callable[[float], float],
    py: Callable[[float], float],
    *,
    positive: bool,
) -> list[list[str]]:
    """Runs of ``"x,y"`` points between gaps (NaN, or non-positive on a log scale)."""
    runs: list[list[str]] = []
    current: list[str] = []
    for i in range(0, len(values), step):
        v = float(values[i])
        if not math.isfinite(v) or (positive and v <= 0):
            if current:
                runs.append(current)
                current = []
            continue
        current.append(f"{px(i):.1f},{py(v):.1f}")
    if current:
        runs.append(current)
    return runs


def bar_chart(
    chart: str,
    title: str,
    labels: Sequence[str],
    values: Sequence[float],
    *,
    x_label: str,
    y_label: str,
    y_format: Callable[[float], str] = _num,
) -> str:
    """One bar per label, from zero (negative bars hang below the zero line)."""
    low = min([*values, 0.0])
    high = max([*values, 0.0])
    if high - low < 1e-12:
        high = low + 1.0
    span = _H - _TOP - _BOTTOM

    def py(v: float) -> float:
        return _TOP + (high - v) / (high - low) * span

    width = (_W - _LEFT - _RIGHT) / max(len(values), 1)
    x_ticks = [(_LEFT + (i + 0.5) * width, label) for i, label in enumerate(labels)]
    body = [
        _axes(x_ticks, [(py(v), y_format(v)) for v in _nice_ticks(low, high)], x_label, y_label)
    ]
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        y0, y1 = sorted((py(0.0), py(value)))
        css = "bar neg" if value < 0 else "bar"
        body.append(
            f'<rect x="{_LEFT + i * width + width * 0.15:.1f}" y="{y0:.1f}" '
            f'width="{width * 0.7:.1f}" height="{max(y1 - y0, 0.5):.1f}" class="{css}">'
            f"<title>{escape(label)}: {escape(y_format(value))}</title></rect>"
        )
    return _svg(chart, title, "".join(body))


def _cell(box: tuple[float, float, float, int], share: float, tooltip: str, text: str) -> str:
    """One heatmap cell at ``box`` (x, y, width, height): green above zero, red below.

    ``share`` is the value over the grid's largest magnitude (-1 to 1): it sets the shade.
    """
    x, y, width, height = box
    strength = min(abs(share), 1.0)
    hue = 140 if share >= 0 else 0
    return (
        f'<rect x="{x:.1f}" y="{y:g}" width="{width - 1:.1f}" height="{height - 1}" class="cell" '
        f'fill="hsl({hue},60%,{92 - 40 * strength:.0f}%)"><title>{escape(tooltip)}</title></rect>'
        f'<text x="{x + width / 2:.1f}" y="{y + 13:g}" class="cell-text" '
        f'text-anchor="middle">{escape(text)}</text>'
    )


def heatmap(
    chart: str,
    title: str,
    rows: Sequence[int],
    columns: Sequence[str],
    cells: Mapping[tuple[int, int], float],
    *,
    x_label: str,
    y_label: str,
) -> str:
    """A row x column grid of percentages, green above zero and red below.

    ``cells[(row value, column index from 1)]``; a missing cell stays blank.
    """
    cell_h = 18
    height = _TOP + cell_h * max(len(rows), 1) + _BOTTOM
    cell_w = (_W - _LEFT - _RIGHT) / max(len(columns), 1)
    extreme = max([abs(v) for v in cells.values()] + [1e-9])
    x_ticks = [(_LEFT + (j + 0.5) * cell_w, name) for j, name in enumerate(columns)]
    y_ticks = [(_TOP + (i + 0.5) * cell_h, str(r)) for i, r in enumerate(rows)]
    body = [_axes(x_ticks, y_ticks, x_label, y_label, height=height)]
    for i, row in enumerate(rows):
        for j in range(len(columns)):
            value = cells.get((row, j + 1))
            if value is None:
                continue
            body.append(
                _cell(
                    (_LEFT + j * cell_w, _TOP + i * cell_h, cell_w, cell_h),
                    value / extreme,
                    f"{row}-{j + 1:02d}: {value * 100:.2f}%",
                    f"{value * 100:.1f}",
                )
            )
    return _svg(chart, title, "".join(body), height=height)


_GRID_SHIFT = 84
"""Extra room on the left of a grid heatmap for its row labels."""


def grid_heatmap(
    chart: str,
    title: str,
    rows: Sequence[str],
    groups: Sequence[str],
    columns: Sequence[str],
    cells: Mapping[tuple[int, int], tuple[float, str]],
    *,
    x_label: str,
    y_label: str,
) -> str:
    """A grid of scores with grouped columns; green above zero, red below, blank when empty.

    Args:
        chart: the ``data-chart`` name.
        title: the chart's title.
        rows: row labels, top to bottom.
        groups: labels written above equal runs of columns (``len(columns)`` a multiple).
        columns: column labels, left to right.
        cells: ``(row index, column index) -> (value, tooltip)``; a missing cell is empty.
        x_label: what the columns are.
        y_label: what the rows are.
    """
    cell_h = 18
    height = _TOP + 14 + cell_h * max(len(rows), 1) + _BOTTOM
    width = _W - _GRID_SHIFT
    top = _TOP + 14
    cell_w = (width - _LEFT - _RIGHT) / max(len(columns), 1)
    extreme = max([abs(v) for v, _ in cells.values()] + [1e-9])
    x_ticks = [(_LEFT + (j + 0.5) * cell_w, name) for j, name in enumerate(columns)]
    y_ticks = [(top + (i + 0.5) * cell_h, name) for i, name in enumerate(rows)]
    body = [
        _axes(
            x_ticks, y_ticks, x_label, y_label, width=width, height=height,
            y_label_x=14 - _GRID_SHIFT,
        )
    ]  # fmt: skip
    per_group = max(len(columns) // max(len(groups), 1), 1)
    for g, name in enumerate(groups):
        x0 = _LEFT + g * per_group * cell_w
        body.append(
            f'<text x="{x0 + per_group * cell_w / 2:.1f}" y="{_TOP + 6}" class="tick" '
            f'text-anchor="middle">{escape(name)}</text>'
            f'<line x1="{x0:.1f}" y1="{top}" x2="{x0:.1f}" y2="{height - _BOTTOM}" class="axis"/>'
        )
    for (i, j), (value, tooltip) in sorted(cells.items()):
        box = (_LEFT + j * cell_w, top + i * cell_h, cell_w, cell_h)
        body.append(_cell(box, value / extreme, tooltip, f"{value:.2f}"))
    inner = f'<g transform="translate({_GRID_SHIFT},0)">{"".join(body)}</g>'
    return _svg(chart, title, inner, height=height)


def sparkline(chart: str, title: str, lines: Sequence[Line], start: str, end: str) -> str:
    """A small chart of a few lines with only its first and last date on the x axis."""
    width, height = 320, 90
    low, high = _range(lines, log=False, zero=False)
    n = max((len(line.values) for line in lines), default=0)

    def px(i: float) -> float:
        return 6 + i / max(n - 1, 1) * (width - 12)

    def py(v: float) -> float:
        return 8 + (high - v) / (high - low) * (height - 30)

    step = max(1, math.ceil(n / 300))
    body = []
    for line in lines:
        body.extend(_polylines(_points(line.values, step, px, py, positive=False), line.css))
    body.append(
        f'<text x="6" y="{height - 6}" class="tick axis-label x">{escape(start)}</text>'
        f'<text x="{width - 6}" y="{height - 6}" class="tick" text-anchor="end">'
        f"{escape(end)}</text>"
    )
    return _svg(chart, title, "".join(body), width=width, height=height)
