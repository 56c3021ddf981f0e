"""Inline SVG charts rendered on the server: no script, no external file.

Pure functions from plain numbers to SVG markup. Every piece of text that
reaches the markup goes through :func:`_text`, so names holding markup show as
text. Colours are SVG presentation attributes, not ``style`` attributes, so the
dashboard's Content-Security-Policy needs no inline style.
"""

from __future__ import annotations

import math
from datetime import date, timedelta
from html import escape
from typing import NamedTuple, Optional, Sequence

PALETTE = ("#2563eb", "#dc2626", "#059669", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#4b5563")
WIDTH = 400  # viewBox units; the SVG scales to its container (phones included)
RATE_LEFT = 130  # room for variant labels left of the rate axis
PLOT_HEIGHT = 150
FONT = 'font-family="system-ui, sans-serif"'
LABEL_CHARS = 16


class RateBar(NamedTuple):
    """One variant's conversion rate and its interval (fractions; None: no trials)."""

    label: str
    rate: Optional[float]
    low: Optional[float]
    high: Optional[float]


def colour(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def _text(value: str, limit: int = LABEL_CHARS) -> str:
    """Escaped (XML-safe) and shortened to ``limit`` characters."""
    shown = value if len(value) <= limit else value[: limit - 1] + "…"
    return escape(shown, quote=True)


def nice_ticks(maximum: float, count: int = 4) -> list[float]:
    """Round tick values from 0 covering ``maximum`` (1-2-5 steps)."""
    if maximum <= 0:
        return [0.0, 1.0]
    raw_step = maximum / count
    magnitude = 10 ** math.floor(math.log10(raw_step))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw_step)
    ticks_needed = math.ceil(maximum / step - 1e-9)
    return [round(i * step, 12) for i in range(ticks_needed + 1)]


def _svg(height: float, title: str, body: list[str]) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height:g}" role="img" '
        f'class="chart" aria-label="{escape(title, quote=True)}"><title>{escape(title)}</title>'
        + "".join(body)
        + "</svg>"
    )


def _percent(value: float) -> str:
    return f"{round(value * 100, 1):g}%"


def rate_chart(bars: Sequence[RateBar], title: str = "Conversion rate, 95% interval") -> str:
    """Horizontal dot-and-whisker chart: each variant's rate with its interval."""
    row, top, left, right = 34, 14, RATE_LEFT, WIDTH - 16
    highs = [bar.high for bar in bars if bar.high is not None]
    ticks = nice_ticks(max(highs, default=0.0) or 0.01)
    scale = (right - left) / ticks[-1]
    height = top + row * len(bars) + 28
    body = [_axis_x(ticks, left, scale, top, height - 22)]
    for index, bar in enumerate(bars):
        y = top + row * index + row / 2
        body.append(
            f'<text x="{left - 8}" y="{y + 5:g}" text-anchor="end" font-size="15" {FONT}>{_text(bar.label)}</text>'
        )
        if bar.rate is None:
            body.append(f'<text x="{left + 4}" y="{y + 5:g}" font-size="13" fill="#6b7280" {FONT}>no trials</text>')
            continue
        x_low, x_rate, x_high = (left + scale * value for value in (bar.low, bar.rate, bar.high))
        fill = colour(index)
        body.append(
            f'<line x1="{x_low:.1f}" x2="{x_high:.1f}" y1="{y:g}" y2="{y:g}" stroke="{fill}" stroke-width="3"/>'
            + _whisker(x_low, y, fill)
            + _whisker(x_high, y, fill)
            + f'<circle cx="{x_rate:.1f}" cy="{y:g}" r="5" fill="{fill}"><title>{_text(bar.label, 200)}: '
            f"{_percent(bar.rate)} ({_percent(bar.low)} to {_percent(bar.high)})</title></circle>"
        )
    return _svg(height, title, body)


def _whisker(x: float, y: float, fill: str) -> str:
    return f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{y - 7:g}" y2="{y + 7:g}" stroke="{fill}" stroke-width="2"/>'


def _axis_x(ticks: list[float], left: float, scale: float, top: float, bottom: float) -> str:
    """Vertical grid lines with percentage labels under them."""
    parts = []
    for tick in ticks:
        x = left + scale * tick
        parts.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{bottom:g}" stroke="#e5e7eb"/>'
            f'<text x="{x:.1f}" y="{bottom + 16:g}" text-anchor="middle" font-size="13" fill="#4b5563" {FONT}>'
            f"{_percent(tick)}</text>"
        )
    return "".join(parts)


def day_range(days: Sequence[str]) -> list[str]:
    """Every ISO day from the first to the last of ``days`` (gaps filled)."""
    if not days:
        return []
    first, last = date.fromisoformat(min(days)), date.fromisoformat(max(days))
    return [(first + timedelta(days=offset)).isoformat() for offset in range((last - first).days + 1)]


def daily_chart(days: Sequence[str], series: Sequence[tuple[str, Sequence[int]]], title: str) -> str:
    """Line chart of counts per day, one line per (label, counts) series.

    ``days`` are consecutive ISO dates and each series has one count per day.
    """
    left, right, top, plot_height = 44, WIDTH - 16, 12, PLOT_HEIGHT
    bottom = top + plot_height
    ticks = nice_ticks(max((max(counts, default=0) for _, counts in series), default=0) or 1, 3)
    y_scale = plot_height / ticks[-1]
    x_step = (right - left) / max(len(days) - 1, 1)
    first_x = left if len(days) > 1 else (left + right) / 2  # a single day sits in the middle
    body = [_axis_y(ticks, left, right, bottom, y_scale), _day_labels(days, first_x, x_step, bottom)]
    for index, (label, counts) in enumerate(series):
        points = [(first_x + x_step * i, bottom - y_scale * count) for i, count in enumerate(counts)]
        body.append(_line(points, index, label, days, counts))
    legend_top = bottom + 34
    body.extend(_legend(series, legend_top))
    return _svg(legend_top + 20 * math.ceil(len(series) / 2) + 4, title, body)


def _axis_y(ticks: list[float], left: float, right: float, bottom: float, scale: float) -> str:
    parts = []
    for tick in ticks:
        y = bottom - scale * tick
        parts.append(
            f'<line x1="{left}" x2="{right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e5e7eb"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="13" fill="#4b5563" {FONT}>'
            f"{tick:g}</text>"
        )
    return "".join(parts)


def _day_labels(days: Sequence[str], left: float, step: float, bottom: float) -> str:
    """First, last and (if room) middle day under the x axis, as MM-DD."""
    if not days:
        return ""
    shown = sorted({0, len(days) - 1, (len(days) - 1) // 2})
    anchors = {0: "start", len(days) - 1: "end"} if len(days) > 1 else {0: "middle"}
    return "".join(
        f'<text x="{left + step * i:.1f}" y="{bottom + 18:g}" text-anchor="{anchors.get(i, "middle")}" '
        f'font-size="13" fill="#4b5563" {FONT}>{escape(days[i][5:])}</text>'
        for i in shown
    )


def _line(points: list, index: int, label: str, days: Sequence[str], counts: Sequence[int]) -> str:
    """Every other series is dashed, so equal series stay visible on top of each other."""
    fill = colour(index)
    dash = ' stroke-dasharray="7 4"' if index % 2 else ""
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    dots = "".join(
        f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{fill}"><title>{_text(label, 200)}, {escape(day)}: '
        f"{count}</title></circle>"
        for (x, y), day, count in zip(points, days, counts)
    )
    return f'<polyline points="{path}" fill="none" stroke="{fill}" stroke-width="2.5"{dash}/>{dots}'


def _legend(series: Sequence[tuple[str, Sequence[int]]], top: float) -> list[str]:
    """Two columns of colour swatches with the series labels."""
    parts = []
    for index, (label, _) in enumerate(series):
        x = 44 + (index % 2) * (WIDTH / 2 - 22)
        y = top + 20 * (index // 2)
        parts.append(
            f'<rect x="{x}" y="{y - 10:g}" width="12" height="12" rx="2" fill="{colour(index)}"/>'
            f'<text x="{x + 18}" y="{y:g}" font-size="15" {FONT}>{_text(label, 20)}</text>'
        )
    return parts
