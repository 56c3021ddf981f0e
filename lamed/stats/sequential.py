"""The always-valid test family: asymptotic confidence sequences.

Waudby-Smith et al., "Time-uniform central limit theory and asymptotic
confidence sequences" (arXiv 2103.06476v7), as GrowthBook's gbstats 0.8.0
SequentialTwoSidedTTest computes them for two proportions on the relative
scale; tests/data/gbstats_reference.json holds its figures. The interval and
the p-value hold at every look at once, so a daily glance does not inflate
the false-positive rate the way a fixed-horizon test does.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from lamed.core.settings import DEFAULTS
from lamed.stats.frequentist import enough_data
from lamed.stats.inputs import arm

MIN_SEQUENTIAL_OUTCOMES = 20
"""Fewest conversions, and non-conversions, per arm before the sequential
test decides (see sequential_enough_data)."""


class SequentialTest(NamedTuple):
    """Always-valid p-value and confidence sequence of the relative uplift."""

    p_value: float
    low: float
    high: float


class RelativeDelta(NamedTuple):
    """variant / control - 1 (of rates or of means) and its delta-method variance."""

    point: float
    variance: float


def relative_variance(
    control: float, control_variance: float, control_n: float, variant: float, variant_variance: float, variant_n: float
) -> float:
    """The delta-method variance of ``variant / control - 1``, two arms'
    estimates (rates or means) with their variances per observation and sizes;
    sizes of 1 give the variance times n with n in each arm."""
    return variant_variance / (control**2 * variant_n) + control_variance * variant**2 / (control**4 * control_n)


def relative_delta(control_s: int, control_n: int, variant_s: int, variant_n: int) -> RelativeDelta | None:
    """gbstats' relative difference and its variance.

    None where gbstats reports an error: a control rate of 0 (the ratio has no
    base) or an arm without variance (no trials, or all or no conversions).
    """
    cs, cn = arm(control_s, control_n)
    vs, vn = arm(variant_s, variant_n)
    if cs == 0 or vs in (0, vn) or cs == cn:
        return None
    pc, pv = cs / cn, vs / vn
    variance = relative_variance(pc, pc * (1.0 - pc), cn, pv, pv * (1.0 - pv), vn)
    return RelativeDelta((pv - pc) / pc, variance)


def sequential_rho(alpha: float, tuning: float) -> float:
    """The mixing parameter rho of eq. 161, tuned so the sequence is tightest
    near ``tuning`` total observations (GrowthBook's default: 5000)."""
    log_alpha = math.log(alpha)
    return math.sqrt((-2.0 * log_alpha + math.log(-2.0 * log_alpha + 1.0)) / tuning)


def half_width(variance_n: float, total_n: float, alpha: float, rho: float) -> float:
    """Eq. 9's half-width: variance_n is the estimate's variance times total_n."""
    spread = total_n * rho**2 + 1.0
    return math.sqrt(variance_n) * math.sqrt(2.0 * spread * math.log(math.sqrt(spread) / alpha) / (total_n * rho) ** 2)


def sequential_test(
    control_s: int,
    control_n: int,
    variant_s: int,
    variant_n: int,
    alpha: float = DEFAULTS.alpha,
    tuning: float = DEFAULTS.sequential_tuning_parameter,
) -> SequentialTest | None:
    """Always-valid p-value and interval of the relative uplift.

    The confidence sequence (eq. 9) is point ± half-width; the p-value (eq. 155)
    is 1 / e-value capped at 1, computed in logs so that a huge e-value gives
    p = 0 instead of an overflow.  None where gbstats reports an error.
    """
    delta = relative_delta(control_s, control_n, variant_s, variant_n)
    if delta is None:
        return None
    return confidence_sequence(delta.point, delta.variance, control_n + variant_n, alpha, tuning)


def confidence_sequence(point: float, variance: float, total_n: int, alpha: float, tuning: float) -> SequentialTest:
    """The always-valid p-value (eq. 155) and interval (eq. 9) of an estimate
    with this delta-method variance after ``total_n`` observations: rates'
    and means' (lamed.stats.means) alike."""
    rho = sequential_rho(alpha, tuning)
    spread = total_n * rho**2 + 1.0
    log_evalue = rho**2 * (point**2 * total_n / variance) / (2.0 * spread) - 0.5 * math.log(spread)
    p_value = min(1.0, math.exp(-log_evalue)) if log_evalue > -700 else 1.0
    half = half_width(variance * total_n, total_n, alpha, rho)
    return SequentialTest(p_value, point - half, point + half)


def sequential_enough_data(control_s: int, control_n: int, variant_s: int, variant_n: int) -> bool:
    """The sequential test's minimum-data rule: enough_data() and at least
    MIN_SEQUENTIAL_OUTCOMES conversions and non-conversions in each arm.

    The confidence sequence is asymptotic: with a handful of conversions its
    normal approximation is loose and early looks call false differences
    (8.5% of A/A tests at a 1% rate without this rule; see docs/statistics.md).
    """
    cs, cn = arm(control_s, control_n)
    vs, vn = arm(variant_s, variant_n)
    fewest = min(cs, cn - cs, vs, vn - vs)
    return fewest >= MIN_SEQUENTIAL_OUTCOMES and enough_data(cs, cn, vs, vn)
