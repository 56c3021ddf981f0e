"""The decision: what one goal's deciding figures say to do, and the
experiment's decision from its goals'. The decision kinds are named here
only; the dashboard, the API, the CLI and notifications use these names."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

from lamed.stats.inputs import DEFAULT_PLAN, Interval, Plan
from lamed.stats.summary import GoalStats, Row, RowT, settled

SHIP = "ship"
KEEP_CONTROL = "keep control"
NO_DIFFERENCE = "no meaningful difference"
KEEP_RUNNING = "keep running"
CHECK_SPLIT = "check the traffic split"
NOT_ENOUGH_DATA = "not enough data"
DECISION_KINDS = (SHIP, KEEP_CONTROL, NO_DIFFERENCE, KEEP_RUNNING, CHECK_SPLIT, NOT_ENOUGH_DATA)
CONCLUSIONS = (SHIP, KEEP_CONTROL, NO_DIFFERENCE, CHECK_SPLIT)
"""The kinds that ask someone to act: the ones worth a message."""


class Decision(NamedTuple):
    """What the deciding figures of one goal say to do.

    ``variant`` is the one to ship (SHIP) or the worse one (KEEP_CONTROL),
    with its uplift and deciding interval; ``days_remaining`` and
    ``decision_sample_per_variant`` go with KEEP_RUNNING.
    """

    kind: str
    goal: str | None = None
    variant: str | None = None
    uplift: float | None = None
    interval: Interval | None = None
    days_remaining: int | None = None
    decision_sample_per_variant: float | None = None


def decide(
    goal: GoalStats[RowT] | None, srm_mismatch: bool, plan: Plan = DEFAULT_PLAN, name: str | None = None
) -> Decision:
    """The decision on one goal named ``name`` (``goal`` None: the goal has no usable counts yet).

    In order: a sample-ratio mismatch voids every figure; below the minimum
    data of any comparison nothing is decided; a variant significantly
    better ships (the largest uplift among them); when every variant is
    significantly worse or its deciding interval lies within ±mde, the
    control stays (NO_DIFFERENCE when none is worse); else keep running.
    """
    if srm_mismatch:
        return Decision(CHECK_SPLIT, name)
    rows = goal.comparisons if goal else []
    comparisons = [row.comparison for row in rows if row.comparison]
    if not comparisons or not all(c.enough_data and c.deciding_interval for c in comparisons):
        return Decision(NOT_ENOUGH_DATA, name)
    better = [row for row in rows if row.significant and (_uplift(row) > 0.0)]
    if better:
        best = max(better, key=_uplift)
        return _about(SHIP, name, best)
    worse = [row for row in rows if row.significant]
    if all(settled(c, plan.mde) for c in comparisons):
        if worse:
            return _about(KEEP_CONTROL, name, min(worse, key=_uplift))
        return Decision(NO_DIFFERENCE, name)
    assert goal is not None
    return Decision(
        KEEP_RUNNING,
        name,
        days_remaining=goal.days_remaining,
        decision_sample_per_variant=goal.decision_sample_per_variant,
    )


def _uplift(row: Row) -> float:
    return (row.comparison.uplift if row.comparison else None) or 0.0


def _about(kind: str, name: str | None, row: Row) -> Decision:
    comparison = row.comparison
    assert comparison is not None
    return Decision(kind, name, row.label, comparison.uplift, comparison.deciding_interval)


def _wait(line: Decision) -> float:
    """Days a goal still waits; unknown counts as the longest."""
    return math.inf if line.days_remaining is None else line.days_remaining


# How far each kind stands from a conclusion: the experiment waits for its
# furthest goal (a broken split first, then missing data, then running).
_WAITING = (CHECK_SPLIT, NOT_ENOUGH_DATA, KEEP_RUNNING)


def experiment_decision(lines: Sequence[Decision]) -> Decision:
    """The experiment's decision from its goals' (the primary goal's alone
    when it has one). With several goals the experiment is decided only when
    every goal is: until then its decision is its furthest goal's (the
    longest wait when several keep running); once all are decided, the
    first goal's that ships, else keeps the control, else the first goal's."""
    if not lines:
        return Decision(NOT_ENOUGH_DATA)
    for kind in _WAITING:
        waiting = [line for line in lines if line.kind == kind]
        if waiting:
            return max(waiting, key=_wait)  # the first of the longest
    for kind in (SHIP, KEEP_CONTROL):
        for line in lines:
            if line.kind == kind:
                return line
    return lines[0]
