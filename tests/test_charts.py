"""The server-rendered SVG charts: well-formed, escaped, and drawn to scale."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from lamed.dashboard import charts

SVG = "{http://www.w3.org/2000/svg}"
XSS = '<img src=x onerror="alert(1)">'


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


@pytest.mark.parametrize(
    "maximum, expected",
    [
        (0.0, [0.0, 1.0]),
        (1.0, [0.0, 0.25, 0.5, 0.75, 1.0]),
        (0.13, [0.0, 0.05, 0.1, 0.15]),
        (7, [0, 2, 4, 6, 8]),
        (1000, [0, 250, 500, 750, 1000]),
    ],
)
def test_nice_ticks_cover_the_maximum_in_round_steps(maximum, expected):
    assert charts.nice_ticks(maximum) == pytest.approx(expected)


def test_rate_chart_draws_each_rate_and_interval_to_scale():
    bars = [charts.RateBar("A", 0.10, 0.07, 0.13), charts.RateBar("B", 0.20, 0.16, 0.25)]
    root = parse(charts.rate_chart(bars))
    dots = root.findall(f"{SVG}circle")
    assert len(dots) == 2
    ticks = charts.nice_ticks(0.25)
    left, right = charts.RATE_LEFT, charts.WIDTH - 16
    scale = (right - left) / ticks[-1]
    assert float(dots[0].get("cx")) == pytest.approx(left + scale * 0.10, abs=0.06)
    assert float(dots[1].get("cx")) == pytest.approx(left + scale * 0.20, abs=0.06)
    assert "10%" in dots[0].find(f"{SVG}title").text and "7%" in dots[0].find(f"{SVG}title").text
    assert dots[0].get("fill") != dots[1].get("fill")


def test_rate_chart_says_no_trials_instead_of_drawing_nothing():
    svg = charts.rate_chart([charts.RateBar("empty", None, None, None)])
    assert "no trials" in svg
    assert parse(svg).find(f"{SVG}circle") is None


def test_labels_with_markup_stay_text():
    svg = charts.rate_chart([charts.RateBar(XSS, 0.5, 0.4, 0.6)])
    svg += charts.daily_chart(["2024-01-01"], [(XSS, [3])], XSS)
    assert "<img" not in svg
    for part in svg.split("</svg>")[:-1]:
        root = parse(part + "</svg>")
        assert root.find(f".//{SVG}img") is None and root.find(".//img") is None


def test_long_labels_are_shortened_with_an_ellipsis():
    svg = charts.rate_chart([charts.RateBar("x" * 100, 0.5, 0.4, 0.6)])
    labels = [t.text for t in parse(svg).iter(f"{SVG}text") if t.text and t.text.startswith("x")]
    assert labels == ["x" * (charts.LABEL_CHARS - 1) + "…"]


def test_day_range_fills_gaps():
    assert charts.day_range(["2024-02-28", "2024-03-01"]) == ["2024-02-28", "2024-02-29", "2024-03-01"]
    assert charts.day_range([]) == []


def test_daily_chart_has_one_point_per_day_and_series_and_a_legend():
    days = charts.day_range(["2024-01-01", "2024-01-05"])
    series = [("A", [1, 0, 3, 0, 5]), ("B", [2, 2, 2, 2, 2])]
    root = parse(charts.daily_chart(days, series, "Trials per day"))
    assert len(root.findall(f"{SVG}polyline")) == 2
    assert len(root.findall(f"{SVG}circle")) == 10
    assert len(root.findall(f"{SVG}rect")) == 2  # legend swatches
    highest = min(float(c.get("cy")) for c in root.findall(f"{SVG}circle"))
    lowest = max(float(c.get("cy")) for c in root.findall(f"{SVG}circle"))
    assert lowest - highest == pytest.approx(charts.PLOT_HEIGHT * 5 / charts.nice_ticks(5, 3)[-1], abs=0.1)
    assert root.find(f"{SVG}title").text == "Trials per day"


def test_daily_chart_of_a_single_day_and_of_zeros_is_valid():
    assert parse(charts.daily_chart(["2024-01-01"], [("A", [0])], "t")).findall(f"{SVG}circle")
    assert parse(charts.daily_chart([], [], "t")) is not None
