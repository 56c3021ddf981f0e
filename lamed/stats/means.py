"""The statistics of a mean: value per participant (revenue per visitor).

A value goal's data per variant is three numbers that Redis keeps exactly
(docs/counting.md, "Values"): the participants ``n``, the sum of the values
and the sum of their squares. Non-converting participants add 0, so the
mean is value per participant and its variance is

    (sum_squares - sum**2 / n) / (n - 1),

exactly gbstats' ``SampleMeanStatistic(n, sum, sum_squares)``. That holds
when each participant adds at most one value per goal (a uuid's first value
stands); with repeat purchases under fresh uuids, a participant's values are
separate terms, not one per-participant total, and the interval is
approximate (docs/statistics.md).

The tests are gbstats 0.8.0's on the relative difference: the fixed-horizon
``TwoSidedTTest`` (Welch's t, Welch-Satterthwaite degrees of freedom) and the
always-valid ``SequentialTwoSidedTTest`` (the confidence sequence of
:mod:`lamed.stats.sequential` on the means' delta-method variance);
tests/data/gbstats_reference.json holds their figures.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from statistics import NormalDist
from typing import Any, NamedTuple

from lamed.core.settings import DEFAULTS, SEQUENTIAL
from lamed.stats.frequentist import MIN_TRIALS
from lamed.stats.inputs import DEFAULT_PLAN, Interval, Plan
from lamed.stats.power import POWER, days_to_reach, smallest_sample_within
from lamed.stats.sequential import RelativeDelta, SequentialTest, confidence_sequence, relative_variance
from lamed.stats.special import student_t_quantile, student_t_two_sided_p
from lamed.stats.srm import sample_ratio_mismatch
from lamed.stats.summary import Comparison, GoalStats, flat_row, goal_stats

MIN_CONVERSIONS = 20
"""Fewest participants with a value per arm before a mean's test decides:
the t and the confidence sequence lean on the central limit theorem, which a
handful of purchases does not reach (as MIN_SEQUENTIAL_OUTCOMES for rates)."""


class MeanArm(NamedTuple):
    """One variant's value goal: participants, the sum of their values and
    of the values' squares (in units), and how many converted."""

    n: int
    total: float
    sum_squares: float
    conversions: int = 0

    @property
    def mean(self) -> float:
        """Value per participant (gbstats: 0 without participants)."""
        return self.total / self.n if self.n else 0.0

    @property
    def variance(self) -> float:
        """The sample variance per participant (gbstats: 0 below 2 participants)."""
        if self.n <= 1:
            return 0.0
        return (self.sum_squares - self.total**2 / self.n) / (self.n - 1)


class MeanTest(NamedTuple):
    """Welch's two-sided t-test of the relative difference of two means."""

    uplift: float
    low: float
    high: float
    t: float
    dof: float
    p_value: float


def relative_mean_delta(control: MeanArm, variant: MeanArm) -> RelativeDelta | None:
    """mean_v / mean_c - 1 and its delta-method variance (gbstats'
    frequentist_variance, relative); None where gbstats reports an error: a
    control mean of 0 or an arm without positive variance."""
    if control.mean == 0 or control.variance <= 0.0 or variant.variance <= 0.0:
        return None
    mc, mv = control.mean, variant.mean
    variance = relative_variance(mc, control.variance, control.n, mv, variant.variance, variant.n)
    return RelativeDelta((mv - mc) / mc, variance)


def welch_dof(control: MeanArm, variant: MeanArm) -> float:
    """The Welch-Satterthwaite degrees of freedom, as gbstats computes them."""
    a, b = control.variance / control.n, variant.variance / variant.n
    return (a + b) ** 2 / (b**2 / (variant.n - 1) + a**2 / (control.n - 1))


def mean_t_test(control: MeanArm, variant: MeanArm, alpha: float = DEFAULTS.alpha) -> MeanTest | None:
    """gbstats' TwoSidedTTest, relative: the point, the 1 - alpha interval
    point ± t_{1-alpha/2, dof} * sd, and the p-value 2 (1 - T_dof(|t|))."""
    delta = relative_mean_delta(control, variant)
    if delta is None:
        return None
    sd = math.sqrt(delta.variance)
    dof = welch_dof(control, variant)
    width = student_t_quantile(1.0 - alpha / 2.0, dof) * sd
    statistic = delta.point / sd
    return MeanTest(delta.point, delta.point - width, delta.point + width, statistic, dof,
                    student_t_two_sided_p(statistic, dof))  # fmt: skip


def sequential_mean_test(
    control: MeanArm,
    variant: MeanArm,
    alpha: float = DEFAULTS.alpha,
    tuning: float = DEFAULTS.sequential_tuning_parameter,
) -> SequentialTest | None:
    """gbstats' SequentialTwoSidedTTest on two means, relative: as
    :func:`lamed.stats.sequential.sequential_test`, on the means' variance."""
    delta = relative_mean_delta(control, variant)
    if delta is None:
        return None
    return confidence_sequence(delta.point, delta.variance, control.n + variant.n, alpha, tuning)


def mean_interval(arm: MeanArm, confidence: float = 0.95) -> Interval | None:
    """The value per participant's interval: mean ± t_{n-1} * sd / sqrt(n);
    None below 2 participants."""
    if arm.n < 2:
        return None
    width = student_t_quantile(0.5 + confidence / 2.0, arm.n - 1) * math.sqrt(max(arm.variance, 0.0) / arm.n)
    return Interval(arm.mean - width, arm.mean + width)


def mean_enough_data(control: MeanArm, variant: MeanArm) -> bool:
    """Both arms have MIN_TRIALS participants and MIN_CONVERSIONS valued conversions."""
    return min(control.n, variant.n) >= MIN_TRIALS and min(control.conversions, variant.conversions) >= MIN_CONVERSIONS


def mean_sample_size_per_variant(
    control: MeanArm, mde: float = DEFAULTS.mde, alpha: float = DEFAULTS.alpha, power: float = POWER
) -> float | None:
    """Participants per variant for the fixed-horizon test to detect the
    relative effect ``mde`` on the control's mean with ``power``, at the
    control's observed variance: n = 2 s² (z_{1-alpha/2} + z_power)² / (mde mean)²
    (normal approximation, equal arms); None without a mean or a variance."""
    if control.mean == 0 or control.variance <= 0.0:
        return None
    z = NormalDist().inv_cdf(1.0 - alpha / 2.0) + NormalDist().inv_cdf(power)
    return 2.0 * control.variance * z**2 / (mde * control.mean) ** 2


def sequential_mean_decision_sample(
    control: MeanArm,
    variant: MeanArm,
    mde: float = DEFAULTS.mde,
    alpha: float = DEFAULTS.alpha,
    tuning: float = DEFAULTS.sequential_tuning_parameter,
) -> int | None:
    """Smallest n per variant (equal arms, at the observed means and
    variances) at which the confidence sequence's half-width on the relative
    uplift is at most ``mde`` (see lamed.stats.power.sequential_decision_sample)."""
    if control.mean == 0 or control.variance <= 0.0 or variant.variance <= 0.0:
        return None
    unit_variance = relative_variance(control.mean, control.variance, 1, variant.mean, variant.variance, 1)
    return smallest_sample_within(unit_variance, mde, alpha, tuning)


def probability_mean_beats(control: MeanArm, variant: MeanArm) -> float | None:
    """P(mean_v > mean_c) under the normal approximation of the difference
    (descriptive only, as for rates)."""
    if control.n < 2 or variant.n < 2:
        return None
    spread = math.sqrt(max(control.variance, 0.0) / control.n + max(variant.variance, 0.0) / variant.n)
    if spread == 0.0:
        return None
    return NormalDist().cdf((variant.mean - control.mean) / spread)


class ValueVariantStats(NamedTuple):
    """One variant's figures for a value goal; ``comparison`` None for the control."""

    label: str
    is_control: bool
    participants: int
    conversions: int
    total_value: float
    sum_of_squares: float
    value_per_participant: float | None
    value_low: float | None
    value_high: float | None
    sample_size_per_variant: float | None
    comparison: Comparison | None

    @property
    def trials(self) -> int:
        return self.participants

    @property
    def enough_data(self) -> bool:
        return self.comparison.enough_data if self.comparison else self.participants >= MIN_TRIALS

    @property
    def significant(self) -> bool:
        return self.comparison is not None and self.comparison.significant

    def to_dict(self) -> dict[str, Any]:
        return flat_row(self)


def compare_means(control: MeanArm, variant: MeanArm, plan: Plan, pace: tuple[float, float]) -> Comparison:
    """The variant's mean against the control's, as a Comparison (``z`` is Welch's t)."""
    fixed = mean_t_test(control, variant, plan.alpha)
    sequential = sequential_mean_test(control, variant, plan.alpha, plan.tuning)
    enough = mean_enough_data(control, variant)
    decision_sample: float | None
    if plan.deciding_test == SEQUENTIAL:
        deciding = sequential.p_value if sequential else None
        decision_sample = sequential_mean_decision_sample(control, variant, plan.mde, plan.alpha, plan.tuning)
    else:
        deciding = fixed.p_value if fixed else None
        decision_sample = mean_sample_size_per_variant(control, plan.mde, plan.alpha)
    return Comparison(
        uplift=(variant.mean - control.mean) / control.mean if control.mean else None,
        uplift_low=fixed.low if fixed else None,
        uplift_high=fixed.high if fixed else None,
        z=fixed.t if fixed else None,
        p_value=fixed.p_value if fixed else None,
        sequential_p_value=sequential.p_value if sequential else None,
        sequential_uplift_low=sequential.low if sequential else None,
        sequential_uplift_high=sequential.high if sequential else None,
        deciding_test=plan.deciding_test,
        adjusted_p_value=deciding,
        prob_beat_control=probability_mean_beats(control, variant),
        enough_data=enough,
        significant=enough and deciding is not None and deciding < plan.alpha,
        decision_sample_per_variant=decision_sample,
        days_remaining=days_to_reach(decision_sample, [(control.n, pace[0]), (variant.n, pace[1])]),
    )


def summarize_value_goal(
    variants: Sequence[tuple[str, MeanArm]],
    control: str,
    weights: Sequence[float] | None = None,
    confidence: float = 0.95,
    plan: Plan = DEFAULT_PLAN,
    trials_per_day: Mapping[str, float] | None = None,
) -> GoalStats[ValueVariantStats]:
    """Every figure of one value goal, from (label, MeanArm) rows in input order."""
    labels = [label for label, _ in variants]
    if len(set(labels)) != len(labels) or control not in labels:
        raise ValueError("labels must be unique and include the control")
    arms = dict(variants)
    control_arm = arms[control]
    pace = dict(trials_per_day or {})
    planned = mean_sample_size_per_variant(control_arm, plan.mde, plan.alpha)
    rows = []
    for label, counts in variants:
        comparison = None
        if label != control:
            comparison = compare_means(control_arm, counts, plan, (pace.get(control, 0.0), pace.get(label, 0.0)))
        interval = mean_interval(counts, confidence)
        rows.append(
            ValueVariantStats(
                label=label,
                is_control=comparison is None,
                participants=counts.n,
                conversions=counts.conversions,
                total_value=counts.total,
                sum_of_squares=counts.sum_squares,
                value_per_participant=counts.mean if counts.n else None,
                value_low=interval.low if interval else None,
                value_high=interval.high if interval else None,
                sample_size_per_variant=planned,
                comparison=comparison,
            )
        )
    srm = sample_ratio_mismatch([arm.n for arm in arms.values()], weights if weights is not None else [1.0] * len(arms))
    return goal_stats(control, rows, srm, plan, planned)
