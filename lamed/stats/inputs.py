"""What every test starts from: an arm's counts, its conversion rate and
interval, and the plan that says how an experiment is judged."""

from __future__ import annotations

import math
import operator
from statistics import NormalDist
from typing import NamedTuple

from lamed.core.settings import DEFAULTS


class Arm(NamedTuple):
    """One variant's counts for one goal."""

    successes: int
    trials: int


class Interval(NamedTuple):
    low: float
    high: float


class Plan(NamedTuple):
    """How an experiment is judged: the deciding test and its parameters
    (defaults: the settings' defaults, lamed.core.settings)."""

    deciding_test: str = DEFAULTS.deciding_test
    alpha: float = DEFAULTS.alpha
    tuning: float = DEFAULTS.sequential_tuning_parameter
    mde: float = DEFAULTS.mde
    correction: str = DEFAULTS.comparison_correction
    family: str = DEFAULTS.comparison_family


DEFAULT_PLAN = Plan()


def arm(successes: int, trials: int) -> Arm:
    """The counts as ints, rejecting impossible values early."""
    s, n = operator.index(successes), operator.index(trials)
    if not 0 <= s <= n:
        raise ValueError(f"need 0 <= successes <= trials, got {s}/{n}")
    return Arm(s, n)


def z_critical(confidence: float) -> float:
    """Two-sided normal quantile for a confidence level in (0, 1)."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    return NormalDist().inv_cdf(0.5 + confidence / 2.0)


def conversion_rate(successes: int, trials: int) -> float | None:
    """Observed rate successes/trials; None with zero trials (no data)."""
    s, n = arm(successes, trials)
    return s / n if n else None


def wilson_interval(successes: int, trials: int, confidence: float = 0.95) -> Interval | None:
    """Wilson score interval for a proportion; None with zero trials.

    Wilson rather than Wald because it stays inside [0, 1] and keeps its
    coverage at 0 or 100 % conversion and at small counts.
    """
    s, n = arm(successes, trials)
    if n == 0:
        return None
    z2 = z_critical(confidence) ** 2
    denom = n + z2
    center = (s + z2 / 2.0) / denom
    half = math.sqrt(z2 * (s * (n - s) / n + z2 / 4.0)) / denom
    # At 0 or n successes the bound is exactly 0 or 1; skip the rounding.
    low = 0.0 if s == 0 else center - half
    high = 1.0 if s == n else center + half
    return Interval(low, high)


def point_uplift(control: Arm, variant: Arm) -> float | None:
    """p_v/p_c - 1 in exact integer arithmetic (one rounding: precise near 0),
    or None when either rate is undefined or p_c is 0."""
    if control.successes == 0 or variant.trials == 0 or control.trials == 0:
        return None
    return (variant.successes * control.trials - control.successes * variant.trials) / (
        control.successes * variant.trials
    )
