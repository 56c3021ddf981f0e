"""The sample-ratio check: does the traffic split match the configured one?

A mismatch means assignment or logging is broken, so every other figure of
the experiment is suspect (the decision is then CHECK_SPLIT)."""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from typing import NamedTuple

from lamed.stats.special import chi2_sf

SRM_ALPHA = 0.001
"""Sample-ratio mismatch is flagged below this p-value: SRM checks run on
every dashboard view, so a strict threshold keeps false alarms rare."""


class SrmResult(NamedTuple):
    """Chi-square goodness of fit of the traffic split (sample-ratio mismatch)."""

    chi2: float
    p_value: float
    mismatch: bool


def sample_ratio_mismatch(
    observed_counts: Sequence[int],
    expected_weights: Sequence[float],
    alpha: float = SRM_ALPHA,
) -> SrmResult:
    """Test observed per-variant counts against the configured split.

    A mismatch means assignment or logging is broken, so every other figure
    for the experiment is suspect.  Weights need not sum to 1 but must be
    positive.  Fewer than two variants or no traffic: nothing to test
    (chi2 0, p 1, no mismatch).
    """
    counts = [operator.index(c) for c in observed_counts]
    weights = [float(w) for w in expected_weights]
    if len(counts) != len(weights):
        raise ValueError("observed_counts and expected_weights differ in length")
    if any(c < 0 for c in counts) or not all(0.0 < w < math.inf for w in weights):
        raise ValueError("counts must be >= 0 and weights positive and finite")
    total = sum(counts)
    if len(counts) < 2 or total == 0:
        return SrmResult(0.0, 1.0, False)
    largest = max(weights)  # shares of the largest: summing weights near the float limit would overflow
    shares = [w / largest for w in weights]
    share_sum = math.fsum(shares)
    expected = [total * share / share_sum for share in shares]
    chi2 = math.fsum((c - e) ** 2 / e for c, e in zip(counts, expected))
    p_value = chi2_sf(chi2, len(counts) - 1)
    return SrmResult(chi2, p_value, p_value < alpha)
