"""The fixed-horizon test family: the pooled two-proportion z-test, the
relative uplift's delta-method interval, and the data the normal
approximation needs. Valid at one planned look only (see sequential for a
test that holds at every look)."""

from __future__ import annotations

import math
from typing import NamedTuple

from lamed.stats.inputs import arm, point_uplift, z_critical

MIN_TRIALS = 30
"""Fewer trials than this in an arm means "not enough data"."""

MIN_EXPECTED = 5.0
"""Smallest expected success and failure count per arm (classic rule for
the normal approximation behind the z-test) before figures are shown."""


class Uplift(NamedTuple):
    """Relative uplift p_v/p_c - 1 and its confidence interval."""

    uplift: float
    low: float
    high: float


class ZTest(NamedTuple):
    """Two-sided pooled z-test; z > 0 when the second arm converts better."""

    z: float
    p_value: float


def relative_uplift(
    control_s: int,
    control_n: int,
    variant_s: int,
    variant_n: int,
    confidence: float = 0.95,
) -> Uplift | None:
    """Relative uplift p_v/p_c - 1 with a confidence interval.

    The interval comes from the delta method on log(p_v/p_c), whose variance
    is (1-p_v)/(n_v p_v) + (1-p_c)/(n_c p_c); exponentiating keeps the ratio
    positive and the interval asymmetric, as the ratio's sampling law is.
    Returns None when either arm has zero successes (or zero trials): the
    log ratio, hence the interval, is then undefined.
    """
    control, variant = arm(control_s, control_n), arm(variant_s, variant_n)
    cs, cn = control
    vs, vn = variant
    if cs == 0 or vs == 0:
        return None
    uplift = point_uplift(control, variant)
    assert uplift is not None  # both arms have successes, hence trials
    log_ratio = math.log((vs * cn) / (cs * vn))
    se = math.sqrt((vn - vs) / (vs * vn) + (cn - cs) / (cs * cn))
    margin = z_critical(confidence) * se
    return Uplift(uplift, math.expm1(log_ratio - margin), math.expm1(log_ratio + margin))


def two_proportion_z_test(s1: int, n1: int, s2: int, n2: int) -> ZTest | None:
    """Two-sided pooled z-test of p2 vs p1.

    Returns None when the test is undefined: an arm with zero trials, or a
    pooled rate of exactly 0 or 1 (no variance: both arms all-failures or
    all-successes).
    """
    s1, n1 = arm(s1, n1)
    s2, n2 = arm(s2, n2)
    total_s, total_n = s1 + s2, n1 + n2
    if n1 == 0 or n2 == 0 or total_s in (0, total_n):
        return None
    # var = p(1-p)(1/n1 + 1/n2) and diff = p2 - p1, each as one int ratio.
    variance = total_s * (total_n - total_s) / (total_n * n1 * n2)
    z = (s2 * n1 - s1 * n2) / (n1 * n2) / math.sqrt(variance)
    return ZTest(z, math.erfc(abs(z) / math.sqrt(2.0)))


def enough_data(control_s: int, control_n: int, variant_s: int, variant_n: int) -> bool:
    """Whether a control/variant comparison has enough data to show figures.

    Rule: both arms have at least MIN_TRIALS trials, and each arm's expected
    successes and failures under the pooled rate are at least MIN_EXPECTED
    (n_i * p >= 5 and n_i * (1 - p) >= 5), the textbook condition for the
    normal approximation.  Pooling means 0 conversions against a clearly
    converting control still counts as evidence.
    """
    cs, cn = arm(control_s, control_n)
    vs, vn = arm(variant_s, variant_n)
    if min(cn, vn) < MIN_TRIALS:
        return False
    total_s, total_n = cs + vs, cn + vn
    smaller_outcome = min(total_s, total_n - total_s)
    return min(cn, vn) * smaller_outcome / total_n >= MIN_EXPECTED
