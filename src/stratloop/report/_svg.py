"""Small inline SVG charts for the self-contained HTML report (no scripts, no network)."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

__all__ = ["bars", "lines", "stacked_bins"]

_W, _H, _PAD = 760, 220, 36


def _frame(title: str, body: str, y_max: float, y_label: str) -> str:
    grid = "".join(
        f'<line x1="{_PAD}" y1="{y:.1f}" x2="{_W - 8}" y2="{y:.1f}" class="grid"/>'
        f'<text x="{_PAD - 4}" y="{y + 4:.1f}" class="tick" text-anchor="end">'
        f"{y_max * frac:.3g}</text>"
        for frac, y in ((f, _H - _PAD - f * (_H - 2 * _PAD)) for f in (0.0, 0.5, 1.0))
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_W} {_H}" role="img" '
        f'aria-label="{escape(title)}" class="chart"><title>{escape(title)}</title>{grid}'
        f'<text x="4" y="14" class="tick">{escape(y_label)}</text>{body}</svg>'
    )


def _x(index: int, count: int) -> float:
    return _PAD + (index / max(count - 1, 1)) * (_W - _PAD - 8)


def _y(value: float, y_max: float) -> float:
    return _H - _PAD - (value / y_max if y_max else 0.0) * (_H - 2 * _PAD)


def lines(title: str, series: Sequence[tuple[str, str, Sequence[float]]], y_label: str) -> str:
    """One polyline per ``(name, css class, values)``, sharing the x axis (record order)."""
    values = [v for _, _, data in series for v in data]
    y_max = max([*values, 1e-9])
    body = []
    legend_x = _PAD + 8
    for name, css, data in series:
        step = max(1, len(data) // 1500)
        points = " ".join(
            f"{_x(i, len(data)):.1f},{_y(v, y_max):.1f}"
            for i, v in enumerate(data)
            if i % step == 0
        )
        body.append(f'<polyline points="{points}" class="{escape(css)}" fill="none"/>')
        body.append(
            f'<text x="{legend_x}" y="{_H - 8}" class="legend {escape(css)}-text">'
            f"{escape(name)}</text>"
        )
        legend_x += 12 + 8 * len(name)
    return _frame(title, "".join(body), y_max, y_label)


def stacked_bins(title: str, lanes: Sequence[str], bins: Sequence[Sequence[int]]) -> str:
    """Stacked bars per bin: ``bins[i][k]`` records of lane ``k`` in bin ``i``."""
    y_max = float(max([sum(b) for b in bins] + [1]))
    width = (_W - _PAD - 8) / max(len(bins), 1)
    body = []
    for i, counts in enumerate(bins):
        base = 0
        for lane, count in zip(lanes, counts, strict=True):
            if count:
                top = _y(base + count, y_max)
                height = _y(base, y_max) - top
                body.append(
                    f'<rect x="{_PAD + i * width:.1f}" y="{top:.1f}" '
                    f'width="{max(width - 1, 1):.1f}" height="{height:.1f}" '
                    f'class="lane-{escape(lane)}"/>'
                )
            base += count
    legend = "".join(
        f'<text x="{_PAD + 8 + k * 140}" y="{_H - 8}" class="legend lane-{escape(lane)}-text">'
        f"{escape(lane)}</text>"
        for k, lane in enumerate(lanes)
    )
    return _frame(title, "".join(body) + legend, y_max, "records per bin")


def bars(title: str, labels: Sequence[str], counts: Sequence[int], y_label: str) -> str:
    """A histogram: one bar per label."""
    y_max = float(max([*counts, 1]))
    width = (_W - _PAD - 8) / max(len(counts), 1)
    body = []
    for i, (label, count) in enumerate(zip(labels, counts, strict=True)):
        top = _y(count, y_max)
        body.append(
            f'<rect x="{_PAD + i * width:.1f}" y="{top:.1f}" width="{max(width - 2, 1):.1f}" '
            f'height="{_H - _PAD - top:.1f}" class="bar">'
            f"<title>{escape(label)}: {count}</title></rect>"
        )
        if i % max(1, len(labels) // 8) == 0:
            body.append(
                f'<text x="{_PAD + i * width:.1f}" y="{_H - _PAD + 14}" class="tick">'
                f"{escape(label)}</text>"
            )
    return _frame(title, "".join(body), y_max, y_label)
