"""Planning: how many visitors an experiment needs to decide, and how many
days that takes at its pace."""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import NormalDist

from lamed.core.settings import DEFAULTS
from lamed.stats.sequential import half_width, relative_variance, sequential_rho

POWER = 0.8
"""Power of the fixed-horizon planning figure (sample_size_per_variant)."""

MAX_VISITORS = 10**12
"""Beyond this many visitors per variant a plan is "never" (None)."""


def sequential_decision_sample(
    control_rate: float,
    variant_rate: float,
    mde: float = DEFAULTS.mde,
    alpha: float = DEFAULTS.alpha,
    tuning: float = DEFAULTS.sequential_tuning_parameter,
) -> int | None:
    """Smallest n per variant (equal arms) at which the confidence sequence's
    half-width on the relative uplift is at most ``mde`` at these rates.

    Then the sequence either excludes 0 or lies within about ±mde: the test
    can conclude either way.  The half-width falls monotonically in n, so
    bisection finds it.  None where the sequential test is undefined, or
    beyond MAX_VISITORS.
    """
    if not (0.0 < control_rate < 1.0 and 0.0 < variant_rate < 1.0):
        return None
    unit_variance = relative_variance(
        control_rate, control_rate * (1.0 - control_rate), 1, variant_rate, variant_rate * (1.0 - variant_rate), 1
    )
    return smallest_sample_within(unit_variance, mde, alpha, tuning)


def smallest_sample_within(unit_variance: float, mde: float, alpha: float, tuning: float) -> int | None:
    """Smallest n per arm (equal arms) at which the confidence sequence's
    half-width is at most ``mde``, for an estimate whose variance is
    ``unit_variance`` / n; None beyond MAX_VISITORS."""
    rho = sequential_rho(alpha, tuning)

    def narrow_enough(n: int) -> bool:
        return half_width(unit_variance * 2.0, 2.0 * n, alpha, rho) <= mde

    low, high = 0, 1  # narrow_enough(low) is False, narrow_enough(high) is True
    while not narrow_enough(high):
        low, high = high, high * 2
        if high > MAX_VISITORS:
            return None
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (low, middle) if narrow_enough(middle) else (middle, high)
    return high


def sample_size_per_variant(
    control_rate: float | None, mde: float = DEFAULTS.mde, alpha: float = DEFAULTS.alpha, power: float = POWER
) -> float | None:
    """Visitors per variant for a fixed-horizon two-sided test to detect the
    relative effect ``mde`` with ``power`` at the control's rate.

    The normal-approximation formula of statsmodels'
    samplesize_proportions_2indep_onetail (equal arms, one tail of the
    two-sided test): n = (z_{1-alpha/2} sd_null + z_power sd_alt)^2 / diff^2
    with diff = mde * p, sd_null from the pooled rate and sd_alt from the two
    rates.  None when the control rate is 0 (no effect size) or the
    alternative rate p (1 + mde) is not a rate below 1.
    """
    if control_rate is None or control_rate <= 0.0:
        return None
    diff = mde * control_rate
    treated = control_rate + diff
    if not 0.0 < treated < 1.0 or control_rate >= 1.0:
        return None
    pooled = (treated + control_rate) / 2.0
    sd_null = math.sqrt(2.0 * pooled * (1.0 - pooled))
    sd_alt = math.sqrt(treated * (1.0 - treated) + control_rate * (1.0 - control_rate))
    z_alpha = NormalDist().inv_cdf(1.0 - alpha / 2.0)
    z_power = NormalDist().inv_cdf(power)
    return (max(z_alpha * sd_null + z_power * sd_alt, 0.0) / diff) ** 2


def days_to_reach(target: float | None, arms: Sequence[tuple[int, float]]) -> int | None:
    """Whole days until every arm has ``target`` trials, from (trials, trials
    per day) per arm; 0 once reached, None when unknown (no target, or an arm
    short of it that gets no traffic)."""
    if target is None:
        return None
    days = 0
    for trials, per_day in arms:
        if trials < target:
            if per_day <= 0.0:
                return None
            days = max(days, math.ceil((target - trials) / per_day))
    return days
