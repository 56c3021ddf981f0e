"""Shapes counters into the JSON that clients read.

``lamed_all`` / ``lamed_goals`` reproduce the original Lamed's output so
existing dashboards keep working; ``experiment_detail`` is the richer view.
Pure functions over :class:`ExperimentCounts`, the counters of one
experiment as plain data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Optional

from lamed.core import keys
from lamed.core.events import PARTICIPATE, VALUE_UNIT


@dataclass
class ExperimentCounts:
    """All counters of one experiment, as plain data."""

    namespace: str
    name: str
    # (event, variant) -> count over all days
    totals: dict[tuple[str, str], int] = field(default_factory=dict)
    # (day "YYYYMMDD", event, variant) -> count
    daily: dict[tuple[str, str, str], int] = field(default_factory=dict)
    # (day, goal, variant) -> sum of the goal's values, in micro-units (events.VALUE_UNIT)
    value_sums: dict[tuple[str, str, str], int] = field(default_factory=dict)
    # (day, goal, variant) -> sum of the squares of the values, in micro-units squared
    value_squares: dict[tuple[str, str, str], int] = field(default_factory=dict)

    @property
    def variants(self) -> list[str]:
        return sorted({variant for _, variant in self.totals})

    @property
    def goals(self) -> list[str]:
        return sorted({event for event, _ in self.totals if event != PARTICIPATE})

    def count(self, event: str, variant: str) -> int:
        return self.totals.get((event, variant), 0)

    @property
    def is_empty(self) -> bool:
        return not self.totals

    @property
    def value_goals(self) -> list[str]:
        """Goals that received a value (see :mod:`lamed.core.keys`, the values hash)."""
        return sorted({goal for _, goal, _ in self.value_sums} | {goal for _, goal, _ in self.value_squares})

    def value_sum(self, goal: str, variant: str, day: Optional[str] = None) -> int:
        """The sum of a goal's values (micro-units), over all days or on ``day``."""
        return sum(n for (d, g, v), n in self.value_sums.items() if g == goal and v == variant and day in (None, d))

    def value_sum_of_squares(self, goal: str, variant: str, day: Optional[str] = None) -> int:
        """The sum of the squares of a goal's values (micro-units squared)."""
        return sum(n for (d, g, v), n in self.value_squares.items() if g == goal and v == variant and day in (None, d))


def experiment_counts(
    namespace: str, name: str, fields: dict[bytes, bytes], values: Optional[dict[bytes, bytes]] = None
) -> ExperimentCounts:
    """An experiment's counts hash (day fields, see lamed.core.keys) as totals
    and days, and its values hash as sums per day."""
    counts = ExperimentCounts(namespace, name)
    for raw_field, raw_value in fields.items():
        day, event, variant = keys.parse_day_field(raw_field)
        value = int(raw_value)
        counts.daily[(day, event, variant)] = value
        counts.totals[(event, variant)] = counts.totals.get((event, variant), 0) + value
    for raw_field, raw_value in (values or {}).items():
        day, goal, variant, kind = keys.parse_value_field(raw_field)
        into = counts.value_sums if kind == keys.VALUE_SUM else counts.value_squares
        into[(day, goal, variant)] = _integer(raw_value)
    return counts


def _integer(raw: bytes) -> int:
    """A sum as Redis holds it: HINCRBY's integer, or HINCRBYFLOAT's decimal
    text (integral, since every increment is; rounded past 2**64)."""
    try:
        return int(raw)
    except ValueError:
        return round(float(raw))


def parse_scope(scope: str) -> list[str]:
    """Lamed's ``scope``: a comma-separated list of experiment names."""
    return [name for name in scope.split(",") if name]


def lamed_goals(counts: ExperimentCounts) -> list[dict[str, Any]]:
    """``[{"goal": g, "results": [{"label": v, "successes": n, "trials": n}]}]``;
    ``participate`` counts trials, every other event is a goal."""
    variants = counts.variants
    return [
        {
            "goal": goal,
            "results": [
                {
                    "label": variant,
                    "successes": counts.count(goal, variant),
                    "trials": counts.count(PARTICIPATE, variant),
                }
                for variant in variants
            ],
        }
        for goal in counts.goals
    ]


def lamed_all(scope: Optional[str], experiments: Iterable[ExperimentCounts]) -> list[dict[str, Any]]:
    body: list[dict[str, Any]] = [{"meta": {"scope": scope}}]
    body.extend({"experiment": counts.name, "goals": lamed_goals(counts)} for counts in experiments)
    return body


def iso_day(day: str) -> str:
    return f"{day[:4]}-{day[4:6]}-{day[6:]}"


def experiment_detail(counts: ExperimentCounts) -> dict[str, Any]:
    """Everything known about one experiment: trials per variant, every event's
    counts and the per-day series (ISO dates, ascending)."""
    events = sorted({event for event, _ in counts.totals})
    daily = [
        {"day": iso_day(day), "event": event, "variant": variant, "count": count}
        for (day, event, variant), count in sorted(counts.daily.items())
    ]
    return {
        "namespace": counts.namespace,
        "experiment": counts.name,
        "variants": [{"label": variant, "trials": counts.count(PARTICIPATE, variant)} for variant in counts.variants],
        "events": {event: {v: counts.count(event, v) for v in counts.variants} for event in events},
        "goals": lamed_goals(counts),
        "daily": daily,
        **({"values": value_totals(counts)} if counts.value_goals else {}),
    }


def in_units(micro: int) -> float:
    """Micro-units (events.VALUE_UNIT) as a number of units."""
    return micro / VALUE_UNIT


def value_totals(counts: ExperimentCounts) -> list[dict[str, Any]]:
    """Per value goal and variant: participants, conversions, and the sums
    of the values and of their squares (in units; exact integers of
    micro-units under ``_micro``), a new key beside Lamed's ``goals``."""
    return [
        {
            "goal": goal,
            "results": [
                {
                    "label": variant,
                    "trials": counts.count(PARTICIPATE, variant),
                    "conversions": counts.count(goal, variant),
                    "sum": in_units(counts.value_sum(goal, variant)),
                    "sum_of_squares": counts.value_sum_of_squares(goal, variant) / VALUE_UNIT**2,
                    "sum_micro": counts.value_sum(goal, variant),
                    "sum_of_squares_micro": counts.value_sum_of_squares(goal, variant),
                }
                for variant in counts.variants
            ],
        }
        for goal in counts.value_goals
    ]
