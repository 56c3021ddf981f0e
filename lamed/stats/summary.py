"""Every figure of one goal: a row per variant, and for each variant but the
control its comparison with the control; then the deciding p-values
adjusted across the experiment's comparisons."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Generic, NamedTuple, Protocol, Self, TypeVar

from lamed.core.settings import SEQUENTIAL
from lamed.stats.bayesian import probability_to_be_best, probability_to_beat
from lamed.stats.frequentist import MIN_TRIALS, enough_data, relative_uplift, two_proportion_z_test
from lamed.stats.inputs import DEFAULT_PLAN, Arm, Interval, Plan, arm, conversion_rate, point_uplift, wilson_interval
from lamed.stats.multiplicity import adjust_p_values
from lamed.stats.power import days_to_reach, sample_size_per_variant, sequential_decision_sample
from lamed.stats.sequential import sequential_enough_data, sequential_test
from lamed.stats.srm import SrmResult, sample_ratio_mismatch


class Comparison(NamedTuple):
    """One variant against the control.

    ``p_value`` is the fixed-horizon z-test's; ``sequential_*`` the
    always-valid test's; ``adjusted_p_value`` is the deciding test's p-value
    adjusted for the experiment's many comparisons (see adjust_comparisons).
    ``enough_data`` is the deciding test's minimum-data rule; ``significant``
    needs enough data and an adjusted p-value below alpha. Any figure is None
    where undefined.
    """

    uplift: float | None
    uplift_low: float | None
    uplift_high: float | None
    z: float | None
    p_value: float | None
    sequential_p_value: float | None
    sequential_uplift_low: float | None
    sequential_uplift_high: float | None
    deciding_test: str
    adjusted_p_value: float | None
    prob_beat_control: float | None
    enough_data: bool
    significant: bool
    decision_sample_per_variant: float | None
    days_remaining: int | None

    @property
    def deciding_p_value(self) -> float | None:
        return self.sequential_p_value if self.deciding_test == SEQUENTIAL else self.p_value

    @property
    def deciding_interval(self) -> Interval | None:
        """The deciding test's interval on the relative uplift, or None."""
        if self.deciding_test == SEQUENTIAL:
            low, high = self.sequential_uplift_low, self.sequential_uplift_high
        else:
            low, high = self.uplift_low, self.uplift_high
        return None if low is None or high is None else Interval(low, high)


COMPARISON_FIELDS = Comparison._fields


class VariantStats(NamedTuple):
    """One variant's own figures for one goal; ``comparison`` is None for the
    control. ``enough_data`` is the comparison's rule (for the control: at
    least MIN_TRIALS trials); when False the dashboard shows "not enough data"."""

    label: str
    is_control: bool
    successes: int
    trials: int
    rate: float | None
    rate_low: float | None
    rate_high: float | None
    prob_best: float
    sample_size_per_variant: float | None
    comparison: Comparison | None

    @property
    def enough_data(self) -> bool:
        return self.comparison.enough_data if self.comparison else self.trials >= MIN_TRIALS

    @property
    def significant(self) -> bool:
        return self.comparison is not None and self.comparison.significant

    def to_dict(self) -> dict[str, Any]:
        return flat_row(self)


class Row(Protocol):
    """What a goal needs of its rows, which are a conversion goal's
    VariantStats or a value goal's lamed.stats.means.ValueVariantStats."""

    @property
    def label(self) -> str: ...

    @property
    def trials(self) -> int: ...

    @property
    def comparison(self) -> Comparison | None: ...

    @property
    def enough_data(self) -> bool: ...

    @property
    def significant(self) -> bool: ...

    def to_dict(self) -> dict[str, Any]: ...

    def _asdict(self) -> dict[str, Any]: ...

    def _replace(self, *, comparison: Comparison | None = ...) -> Self: ...


def flat_row(row: Row) -> dict[str, Any]:
    """One flat row, as the exports have it: the control's comparison
    figures are None (and its deciding test the goal's)."""
    figures = row._asdict()
    comparison = figures.pop("comparison")
    compared = comparison._asdict() if comparison else dict.fromkeys(COMPARISON_FIELDS)
    compared.update(enough_data=row.enough_data, significant=row.significant)
    return {**figures, **compared}


RowT = TypeVar("RowT", bound=Row)


class GoalStats(NamedTuple, Generic[RowT]):
    """Figures for one goal: one row per variant plus the experiment's SRM.
    The rows are VariantStats for a conversion goal, ValueVariantStats for a
    value goal; the adjustment and the decision treat both alike.

    The goal's decision_sample_per_variant and days_remaining are the largest
    of its open comparisons' (None if any is unknown): the time until every
    comparison can conclude; once all have, the smallest arm's trials and 0.
    """

    control: str
    variants: list[RowT]
    srm: SrmResult
    deciding_test: str
    sample_size_per_variant: float | None
    decision_sample_per_variant: float | None
    days_remaining: int | None

    @property
    def comparisons(self) -> list[RowT]:
        """The rows that compare with the control (every row but its own)."""
        return [row for row in self.variants if row.comparison is not None]

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dicts/lists/numbers, ready for json.dumps."""
        figures = self._asdict()
        figures.update(variants=[row.to_dict() for row in self.variants], srm=self.srm._asdict())
        return figures


def _decision_sample(control: Arm, variant: Arm, plan: Plan) -> float | None:
    control_rate, rate = conversion_rate(*control), conversion_rate(*variant)
    if plan.deciding_test != SEQUENTIAL:
        return sample_size_per_variant(control_rate, plan.mde, plan.alpha)
    if control_rate is None or rate is None:
        return None
    return sequential_decision_sample(control_rate, rate, plan.mde, plan.alpha, plan.tuning)


def compare(control: Arm, variant: Arm, confidence: float, plan: Plan, pace: tuple[float, float]) -> Comparison:
    """The variant against the control; ``pace`` is their trials per day."""
    uplift = relative_uplift(*control, *variant, confidence)
    test = two_proportion_z_test(*control, *variant)
    sequential = sequential_test(*control, *variant, plan.alpha, plan.tuning)
    rule = sequential_enough_data if plan.deciding_test == SEQUENTIAL else enough_data
    enough = rule(*control, *variant)
    if plan.deciding_test == SEQUENTIAL:
        deciding_p = sequential.p_value if sequential else None
    else:
        deciding_p = test.p_value if test else None
    decision_sample = _decision_sample(control, variant, plan)
    return Comparison(
        # With 0 variant successes the interval is undefined but the point is -100 %.
        uplift=uplift.uplift if uplift else point_uplift(control, variant),
        uplift_low=uplift.low if uplift else None,
        uplift_high=uplift.high if uplift else None,
        z=test.z if test else None,
        p_value=test.p_value if test else None,
        sequential_p_value=sequential.p_value if sequential else None,
        sequential_uplift_low=sequential.low if sequential else None,
        sequential_uplift_high=sequential.high if sequential else None,
        deciding_test=plan.deciding_test,
        adjusted_p_value=deciding_p,  # a family of one until adjust_comparisons
        prob_beat_control=probability_to_beat(*control, *variant),
        enough_data=enough,
        significant=enough and deciding_p is not None and deciding_p < plan.alpha,
        decision_sample_per_variant=decision_sample,
        days_remaining=days_to_reach(decision_sample, [(control.trials, pace[0]), (variant.trials, pace[1])]),
    )


def _row(
    label: str, counts: Arm, prob_best: float, confidence: float, planned: float | None, comparison: Comparison | None
) -> VariantStats:
    """A variant's own figures; ``planned`` is the goal's fixed-horizon sample size."""
    interval = wilson_interval(*counts, confidence)
    return VariantStats(
        label=label,
        is_control=comparison is None,
        successes=counts.successes,
        trials=counts.trials,
        rate=conversion_rate(*counts),
        rate_low=interval.low if interval else None,
        rate_high=interval.high if interval else None,
        prob_best=prob_best,
        sample_size_per_variant=planned,
        comparison=comparison,
    )


def _largest(values: Sequence[float | int | None]) -> Any:
    """The largest value, None if any is None or there is none."""
    if not values or any(value is None for value in values):
        return None
    return max(value for value in values if value is not None)


def summarize_goal(
    variants: Sequence[tuple[str, int, int]],
    control: str,
    weights: Sequence[float] | None = None,
    confidence: float = 0.95,
    plan: Plan = DEFAULT_PLAN,
    trials_per_day: Mapping[str, float] | None = None,
) -> GoalStats[VariantStats]:
    """Every figure for one goal, from (label, successes, trials) rows.

    ``weights`` is the configured traffic split for the SRM check (default
    equal); the SRM test runs on the trial counts.  ``trials_per_day`` (per
    label, the recent pace) gives days_remaining; without it they are None.
    Rows keep input order.
    """
    labels = [row[0] for row in variants]
    if len(set(labels)) != len(labels) or control not in labels:
        raise ValueError("labels must be unique and include the control")
    arms = [arm(s, n) for _, s, n in variants]
    control_arm = arms[labels.index(control)]
    pace = dict(trials_per_day or {})
    # The control's rate plans every arm's fixed-horizon sample size.
    planned = sample_size_per_variant(conversion_rate(*control_arm), plan.mde, plan.alpha)
    rows = []
    for label, counts, p_best in zip(labels, arms, probability_to_be_best(arms)):
        pace_of_pair = (pace.get(control, 0.0), pace.get(label, 0.0))
        comparison = None if label == control else compare(control_arm, counts, confidence, plan, pace_of_pair)
        rows.append(_row(label, counts, p_best, confidence, planned, comparison))
    srm = sample_ratio_mismatch([n for _, n in arms], weights if weights is not None else [1.0] * len(arms))
    return goal_stats(control, rows, srm, plan, planned)


def goal_stats(control: str, rows: list[RowT], srm: SrmResult, plan: Plan, planned: float | None) -> GoalStats[RowT]:
    """The goal's figures. Its time to decide is that of the comparisons still
    open (neither significant nor within ±mde): a concluded comparison needs
    no more data, so it does not hold the goal up."""
    open_rows = [row.comparison for row in rows if row.comparison and not settled(row.comparison, plan.mde)]
    if open_rows:
        decision_sample = _largest([c.decision_sample_per_variant for c in open_rows])
        days = _largest([c.days_remaining for c in open_rows])
    else:  # every comparison concluded at the sample it has
        decision_sample, days = min(row.trials for row in rows), 0
    return GoalStats(
        control=control,
        variants=rows,
        srm=srm,
        deciding_test=plan.deciding_test,
        sample_size_per_variant=planned,
        decision_sample_per_variant=decision_sample,
        days_remaining=days,
    )


def within_mde(comparison: Comparison, mde: float) -> bool:
    interval = comparison.deciding_interval
    return interval is not None and -mde <= interval.low and interval.high <= mde


def settled(comparison: Comparison, mde: float) -> bool:
    """Whether the deciding test has concluded this comparison: significant,
    or its interval within ±mde (no meaningful difference)."""
    return comparison.significant or (comparison.enough_data and within_mde(comparison, mde))


def adjust_comparisons(goals: Sequence[GoalStats[Any]], plan: Plan = DEFAULT_PLAN) -> list[GoalStats[Any]]:
    """The goals with their deciding p-values adjusted for many comparisons.

    The family is every (variant, goal) comparison of the experiment, or each
    goal's own with ``plan.family == "goal"``.  An undefined p-value counts
    as 1 in its family (the comparison exists, it just shows nothing yet), so
    the family's size does not change as data arrives; its adjusted value
    stays None.  ``significant`` is then re-derived from the adjusted values.
    """
    families = [list(range(len(goals)))] if plan.family == "experiment" else [[i] for i in range(len(goals))]
    adjusted: dict[tuple[int, str], float] = {}
    for family in families:
        members = [(g, row) for g in family for row in goals[g].comparisons]
        raw = [_p_or_one(row.comparison) for _, row in members]
        for (g, row), value in zip(members, adjust_p_values(raw, plan.correction)):
            adjusted[(g, row.label)] = value
    result = []
    for g, goal in enumerate(goals):
        rows = [
            row
            if row.comparison is None
            else row._replace(comparison=_with_adjusted(row.comparison, adjusted[(g, row.label)], plan))
            for row in goal.variants
        ]
        result.append(goal_stats(goal.control, rows, goal.srm, plan, goal.sample_size_per_variant))
    return result


def _p_or_one(comparison: Comparison | None) -> float:
    p_value = comparison.deciding_p_value if comparison else None
    return 1.0 if p_value is None else p_value


def _with_adjusted(comparison: Comparison, value: float, plan: Plan) -> Comparison:
    shown = None if comparison.deciding_p_value is None else value
    return comparison._replace(
        adjusted_p_value=shown, significant=comparison.enough_data and shown is not None and shown < plan.alpha
    )
