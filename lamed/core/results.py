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
from lamed.core.events import PARTICIPATE


@dataclass
class ExperimentCounts:
    """All counters of one experiment, as plain data."""

    namespace: str
    name: str
    # (event, variant) -> count over all days
    totals: dict[tuple[str, str], int] = field(default_factory=dict)
    # (day "YYYYMMDD", event, variant) -> count
    daily: dict[tuple[str, str, str], int] = field(default_factory=dict)

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


def experiment_counts(namespace: str, name: str, fields: dict[bytes, bytes]) -> ExperimentCounts:
    """An experiment's counts hash (day fields, see lamed.core.keys) as totals and days."""
    counts = ExperimentCounts(namespace, name)
    for raw_field, raw_value in fields.items():
        day, event, variant = keys.parse_day_field(raw_field)
        value = int(raw_value)
        counts.daily[(day, event, variant)] = value
        counts.totals[(event, variant)] = counts.totals.get((event, variant), 0) + value
    return counts


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
    }
