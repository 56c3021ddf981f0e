"""Turns the figures into the markdown table the README shows."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Optional


def median(values) -> float:
    values = list(values)
    return statistics.median(values) if values else float("nan")


def number(value: Optional[float], digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:,.{digits}f}"


@dataclass
class Row:
    figure: str
    lamed: str
    ours: str
    ratio: str
    target: str
    met: Optional[bool]  # None: no target, just a figure


def ratio(value: Optional[float], base: Optional[float], digits: int = 1) -> str:
    if not value or not base:
        return ""
    return f"{value / base:,.{digits}f}×"


def verdict(met: Optional[bool]) -> str:
    return "" if met is None else ("yes" if met else "**no**")


def table(rows: list) -> str:
    lines = [
        "| figure | Lamed 0.4.3 | ours | ours / Lamed | target | met |",
        "| --- | ---: | ---: | ---: | --- | --- |",
    ]
    for row in rows:
        cells = (row.figure, row.lamed, row.ours, row.ratio, row.target, verdict(row.met))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def machine_line(machine: dict) -> str:
    return (
        f"Machine: {machine['cpu']}, {machine['cores']} cores, {machine['os']}, Python {machine['python']}, "
        f"redis-server {machine['redis']}; load average before the run: {machine['load']}."
    )
