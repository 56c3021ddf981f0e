"""Conversion statistics for the dashboard: pure functions on plain numbers.

Python stdlib only (no numpy/scipy) so the module ships in the Lambda bundle
as is.  An "arm" is a ``(successes, trials)`` pair of non-negative integers.
A figure that the data cannot define (a rate with zero trials, a test with no
variance) is ``None`` rather than NaN, so every result is JSON-serialisable.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from functools import cache
from statistics import NormalDist
from typing import Any, NamedTuple

from lamed.core.settings import DEFAULTS, Settings

SRM_ALPHA = 0.001
"""Sample-ratio mismatch is flagged below this p-value: SRM checks run on
every dashboard view, so a strict threshold keeps false alarms rare."""

MIN_TRIALS = 30
"""Fewer trials than this in an arm means "not enough data"."""

MIN_EXPECTED = 5.0
"""Smallest expected success and failure count per arm (classic rule for
the normal approximation behind the z-test) before figures are shown."""

MIN_SEQUENTIAL_OUTCOMES = 20
"""Fewest conversions, and non-conversions, per arm before the sequential
test decides (see sequential_enough_data)."""

POWER = 0.8
"""Power of the fixed-horizon planning figure (sample_size_per_variant)."""

_MILLER_MAX_TERMS = 10_000  # ~3 ms of lgamma, the quadrature's cost
_GL_ORDER = 12  # Gauss-Legendre nodes per panel
_PANEL_SDS = 20  # panel edges at posterior mean ± k·sd for |k| <= this


# -- validation helpers -------------------------------------------------------


def _arm(successes: int, trials: int) -> tuple[int, int]:
    """Return the counts as ints, rejecting impossible values early."""
    s, n = operator.index(successes), operator.index(trials)
    if not 0 <= s <= n:
        raise ValueError(f"need 0 <= successes <= trials, got {s}/{n}")
    return s, n


def _z_critical(confidence: float) -> float:
    """Two-sided normal quantile for a confidence level in (0, 1)."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    return NormalDist().inv_cdf(0.5 + confidence / 2.0)


# -- frequentist figures ------------------------------------------------------


def conversion_rate(successes: int, trials: int) -> float | None:
    """Observed rate successes/trials; None with zero trials (no data)."""
    s, n = _arm(successes, trials)
    return s / n if n else None


def wilson_interval(successes: int, trials: int, confidence: float = 0.95) -> tuple[float, float] | None:
    """Wilson score interval for a proportion; None with zero trials.

    Wilson rather than Wald because it stays inside [0, 1] and keeps its
    coverage at 0 or 100 % conversion and at small counts.
    """
    s, n = _arm(successes, trials)
    if n == 0:
        return None
    z2 = _z_critical(confidence) ** 2
    denom = n + z2
    center = (s + z2 / 2.0) / denom
    half = math.sqrt(z2 * (s * (n - s) / n + z2 / 4.0)) / denom
    # At 0 or n successes the bound is exactly 0 or 1; skip the rounding.
    low = 0.0 if s == 0 else center - half
    high = 1.0 if s == n else center + half
    return low, high


def relative_uplift(
    control_s: int,
    control_n: int,
    variant_s: int,
    variant_n: int,
    confidence: float = 0.95,
) -> tuple[float, float, float] | None:
    """Relative uplift p_v/p_c - 1 with a confidence interval.

    The interval comes from the delta method on log(p_v/p_c), whose variance
    is (1-p_v)/(n_v p_v) + (1-p_c)/(n_c p_c); exponentiating keeps the ratio
    positive and the interval asymmetric, as the ratio's sampling law is.
    Returns None when either arm has zero successes (or zero trials): the
    log ratio, hence the interval, is then undefined.
    """
    cs, cn = _arm(control_s, control_n)
    vs, vn = _arm(variant_s, variant_n)
    if cs == 0 or vs == 0:
        return None
    # Exact integer arithmetic, one rounding each: precise for uplifts near 0.
    uplift = (vs * cn - cs * vn) / (cs * vn)
    log_ratio = math.log((vs * cn) / (cs * vn))
    se = math.sqrt((vn - vs) / (vs * vn) + (cn - cs) / (cs * cn))
    margin = _z_critical(confidence) * se
    return uplift, math.expm1(log_ratio - margin), math.expm1(log_ratio + margin)


def two_proportion_z_test(s1: int, n1: int, s2: int, n2: int) -> tuple[float, float] | None:
    """Two-sided pooled z-test of p2 vs p1: returns (z, p_value).

    z > 0 when arm 2 converts better.  Returns None when the test is
    undefined: an arm with zero trials, or a pooled rate of exactly 0 or 1
    (no variance: both arms all-failures or all-successes).
    """
    s1, n1 = _arm(s1, n1)
    s2, n2 = _arm(s2, n2)
    total_s, total_n = s1 + s2, n1 + n2
    if n1 == 0 or n2 == 0 or total_s in (0, total_n):
        return None
    # var = p(1-p)(1/n1 + 1/n2) and diff = p2 - p1, each as one int ratio.
    variance = total_s * (total_n - total_s) / (total_n * n1 * n2)
    z = (s2 * n1 - s1 * n2) / (n1 * n2) / math.sqrt(variance)
    return z, math.erfc(abs(z) / math.sqrt(2.0))


def enough_data(control_s: int, control_n: int, variant_s: int, variant_n: int) -> bool:
    """Whether a control/variant comparison has enough data to show figures.

    Rule: both arms have at least MIN_TRIALS trials, and each arm's expected
    successes and failures under the pooled rate are at least MIN_EXPECTED
    (n_i * p >= 5 and n_i * (1 - p) >= 5), the textbook condition for the
    normal approximation.  Pooling means 0 conversions against a clearly
    converting control still counts as evidence.
    """
    cs, cn = _arm(control_s, control_n)
    vs, vn = _arm(variant_s, variant_n)
    if min(cn, vn) < MIN_TRIALS:
        return False
    total_s, total_n = cs + vs, cn + vn
    smaller_outcome = min(total_s, total_n - total_s)
    return min(cn, vn) * smaller_outcome / total_n >= MIN_EXPECTED


# -- always-valid (sequential) inference --------------------------------------
#
# Asymptotic confidence sequences of Waudby-Smith et al., "Time-uniform central
# limit theory and asymptotic confidence sequences" (arXiv 2103.06476v7), as
# GrowthBook's gbstats 0.8.0 SequentialTwoSidedTTest computes them for two
# proportions on the relative scale; tests/data/gbstats_reference.json holds its
# figures.  The interval and the p-value hold at every look at once, so a daily
# glance does not inflate the false-positive rate the way a fixed-horizon test does.


def _relative_delta(control_s: int, control_n: int, variant_s: int, variant_n: int) -> tuple[float, float] | None:
    """(p_v/p_c - 1, its delta-method variance), gbstats' relative difference.

    None where gbstats reports an error: a control rate of 0 (the ratio has no
    base) or an arm without variance (no trials, or all or no conversions).
    """
    cs, cn = _arm(control_s, control_n)
    vs, vn = _arm(variant_s, variant_n)
    if cs == 0 or vs in (0, vn) or cs == cn:
        return None
    pc, pv = cs / cn, vs / vn
    variance = pv * (1.0 - pv) / (pc**2 * vn) + pc * (1.0 - pc) * pv**2 / (pc**4 * cn)
    return (pv - pc) / pc, variance


def sequential_rho(alpha: float, tuning: float) -> float:
    """The mixing parameter rho of eq. 161, tuned so the sequence is tightest
    near ``tuning`` total observations (GrowthBook's default: 5000)."""
    log_alpha = math.log(alpha)
    return math.sqrt((-2.0 * log_alpha + math.log(-2.0 * log_alpha + 1.0)) / tuning)


def _sequential_half_width(variance_n: float, total_n: float, alpha: float, rho: float) -> float:
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
) -> tuple[float, float, float] | None:
    """Always-valid (p_value, uplift_low, uplift_high) of the relative uplift.

    The confidence sequence (eq. 9) is point ± half-width; the p-value (eq. 155)
    is 1 / e-value capped at 1, computed in logs so that a huge e-value gives
    p = 0 instead of an overflow.  None where gbstats reports an error.
    """
    delta = _relative_delta(control_s, control_n, variant_s, variant_n)
    if delta is None:
        return None
    point, variance = delta
    total_n = control_n + variant_n
    rho = sequential_rho(alpha, tuning)
    spread = total_n * rho**2 + 1.0
    log_evalue = rho**2 * (point**2 * total_n / variance) / (2.0 * spread) - 0.5 * math.log(spread)
    p_value = min(1.0, math.exp(-log_evalue)) if log_evalue > -700 else 1.0
    half = _sequential_half_width(variance * total_n, total_n, alpha, rho)
    return p_value, point - half, point + half


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
    beyond 10^12 visitors.
    """
    if not (0.0 < control_rate < 1.0 and 0.0 < variant_rate < 1.0):
        return None
    unit_variance = (
        variant_rate * (1.0 - variant_rate) / control_rate**2
        + control_rate * (1.0 - control_rate) * variant_rate**2 / control_rate**4
    )  # the variance of the relative uplift times n, with n visitors in each arm
    rho = sequential_rho(alpha, tuning)

    def narrow_enough(n: int) -> bool:
        return _sequential_half_width(unit_variance * 2.0, 2.0 * n, alpha, rho) <= mde

    low, high = 0, 1  # narrow_enough(low) is False, narrow_enough(high) is True
    while not narrow_enough(high):
        low, high = high, high * 2
        if high > 10**12:
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


# -- many comparisons ---------------------------------------------------------


def adjust_p_values(p_values: Sequence[float], method: str = DEFAULTS.comparison_correction) -> list[float]:
    """Holm-Bonferroni (``holm``: controls the family-wise error rate) or
    Benjamini-Hochberg (``bh``: the false discovery rate) adjusted p-values,
    in input order, as statsmodels' multipletests computes them."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [0.0] * m
    if method == "holm":
        running = 0.0
        for rank, i in enumerate(order):
            running = max(running, (m - rank) * p_values[i])
            adjusted[i] = min(1.0, running)
    elif method == "bh":
        running = 1.0
        for rank in range(m - 1, -1, -1):
            i = order[rank]
            running = min(running, p_values[i] * m / (rank + 1))
            adjusted[i] = min(1.0, running)
    else:
        raise ValueError(f"method must be holm or bh, got {method!r}")
    return adjusted


# -- chi-square / sample-ratio mismatch ---------------------------------------


def _gamma_p_series(a: float, x: float) -> float:
    """Regularized lower gamma P(a, x) by its power series (x < a + 1)."""
    term = total = 1.0 / a
    ap = a
    for _ in range(10_000):
        ap += 1.0
        term *= x / ap
        total += term
        if abs(term) < abs(total) * 1e-17:
            break
    return total * math.exp(-x + a * math.log(x) - math.lgamma(a))


def _gamma_q_fraction(a: float, x: float) -> float:
    """Regularized upper gamma Q(a, x) by Lentz's continued fraction (x >= a + 1)."""
    tiny = 1e-300
    b = x + 1.0 - a
    c = 1.0 / tiny
    d = 1.0 / b
    h = d
    for i in range(1, 10_000):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-16:
            break
    return h * math.exp(-x + a * math.log(x) - math.lgamma(a))


def gamma_q(a: float, x: float) -> float:
    """Regularized upper incomplete gamma Q(a, x) = Gamma(a, x) / Gamma(a).

    Series below x = a + 1 and continued fraction above (Numerical Recipes
    6.2): each converges fast on its side, and the fraction gives tiny tails
    with full relative precision instead of as 1 - P.
    """
    if a <= 0.0 or x < 0.0:
        raise ValueError(f"need a > 0 and x >= 0, got a={a}, x={x}")
    if x == 0.0:
        return 1.0
    if x < a + 1.0:
        return 1.0 - _gamma_p_series(a, x)
    return _gamma_q_fraction(a, x)


def chi2_sf(x: float, df: float) -> float:
    """Chi-square survival function P(X >= x), i.e. Q(df/2, x/2)."""
    if df <= 0:
        raise ValueError(f"degrees of freedom must be positive, got {df}")
    return 1.0 if x <= 0.0 else gamma_q(df / 2.0, x / 2.0)


@dataclass(frozen=True)
class SrmResult:
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
    expected = [total * share / math.fsum(shares) for share in shares]
    chi2 = math.fsum((c - e) ** 2 / e for c, e in zip(counts, expected))
    p_value = chi2_sf(chi2, len(counts) - 1)
    return SrmResult(chi2, p_value, p_value < alpha)


# -- Bayesian figures (Beta(1, 1) priors) -------------------------------------


def _posterior(successes: int, trials: int) -> tuple[int, int]:
    """Beta(s + 1, n - s + 1): the posterior under a uniform Beta(1, 1) prior."""
    s, n = _arm(successes, trials)
    return s + 1, n - s + 1


def _log_beta(a: float, b: float) -> float:
    return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)


def _miller_sum(a1: int, b1: int, a2: int, b2: int) -> float:
    """P(X2 > X1), X1 ~ Beta(a1, b1), X2 ~ Beta(a2, b2): Evan Miller's a2-term sum.

    sum_{i<a2} B(a1+i, b1+b2) / ((b2+i) B(1+i, b2) B(a1, b1)), each term
    evaluated in log space so large counts neither overflow nor underflow.
    """
    const = math.lgamma(b1 + b2) - math.lgamma(b2) - _log_beta(a1, b1)
    return math.fsum(
        math.exp(
            const
            + math.lgamma(a1 + i)
            - math.lgamma(a1 + b1 + b2 + i)
            - math.log(b2 + i)
            - math.lgamma(1 + i)
            + math.lgamma(1 + i + b2)
        )
        for i in range(a2)
    )


def probability_to_beat(control_s: int, control_n: int, variant_s: int, variant_n: int) -> float:
    """Posterior probability that the variant's true rate beats the control's.

    Exact closed form (Evan Miller's sum).  By symmetry the sum can run over
    any of the four posterior parameters; the shortest is used.  When even
    that exceeds _MILLER_MAX_TERMS (every arm with over 10k successes and
    10k failures) the sum costs more than the ~3 ms quadrature of
    probability_to_be_best (accurate to ~1e-9), which is used instead.
    """
    a1, b1 = _posterior(control_s, control_n)
    a2, b2 = _posterior(variant_s, variant_n)
    forms = (
        (a2, lambda: _miller_sum(a1, b1, a2, b2)),
        (a1, lambda: 1.0 - _miller_sum(a2, b2, a1, b1)),
        (b1, lambda: _miller_sum(b2, a2, b1, a1)),  # P(1-p_c > 1-p_v)
        (b2, lambda: 1.0 - _miller_sum(b1, a1, b2, a2)),
    )
    terms, compute = min(forms, key=lambda form: form[0])
    if terms > _MILLER_MAX_TERMS:
        return _prob_best_quadrature([(a1, b1), (a2, b2)])[1]
    return min(1.0, max(0.0, compute()))


def probability_to_be_best(arms: Sequence[tuple[int, int]]) -> list[float]:
    """Posterior probability that each arm has the highest true rate.

    P(arm j best) = integral of pdf_j(x) * prod_{k != j} cdf_k(x) dx, by
    deterministic quadrature (see _prob_best_quadrature) rather than Monte
    Carlo: 1e-3 accuracy would need millions of draws per call.  Results
    sum to 1; equal arms share it equally.
    """
    params = [_posterior(s, n) for s, n in arms]
    if len(params) <= 1:
        return [1.0] * len(params)
    return _prob_best_quadrature(params)


@cache
def _gauss_legendre(order: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Gauss-Legendre nodes (ascending) and weights on [-1, 1], by Newton."""
    nodes, weights = [], []
    for i in range(order, 0, -1):
        x = math.cos(math.pi * (i - 0.25) / (order + 0.5))
        for _ in range(100):
            p_prev, p = 1.0, x
            for k in range(2, order + 1):
                p_prev, p = p, ((2 * k - 1) * x * p - (k - 1) * p_prev) / k
            slope = order * (x * p - p_prev) / (x * x - 1.0)
            step = p / slope
            x -= step
            if abs(step) < 1e-16:
                break
        nodes.append(x)
        weights.append(2.0 / ((1.0 - x * x) * slope * slope))
    return tuple(nodes), tuple(weights)


@cache
def _cumulative_matrix(order: int) -> tuple[tuple[float, ...], ...]:
    """M with (M f)_i = integral from -1 to node_i of the polynomial through f.

    Gives each posterior's CDF at the quadrature nodes from its pdf values,
    with the same (spectral) accuracy as the quadrature itself.
    """
    nodes, weights = _gauss_legendre(order)

    def basis(j: int, x: float) -> float:
        return math.prod((x - nodes[k]) / (nodes[j] - nodes[k]) for k in range(order) if k != j)

    rows = []
    for t in nodes:
        half = (t + 1.0) / 2.0
        points = [-1.0 + half * (u + 1.0) for u in nodes]
        rows.append(tuple(half * math.fsum(w * basis(j, p) for w, p in zip(weights, points)) for j in range(order)))
    return tuple(rows)


def _panel_edges(params: Sequence[tuple[int, int]]) -> list[float]:
    """Panel edges at every posterior's mean ± k·sd, so that each panel is at
    most one sd of any posterior with mass there: narrow and wide posteriors
    are then both resolved by a fixed-order rule."""
    edges = {0.0, 1.0}
    for a, b in params:
        mean = a / (a + b)
        sd = math.sqrt(a * b / ((a + b) ** 2 * (a + b + 1)))
        for k in range(-_PANEL_SDS, _PANEL_SDS + 1):
            if 0.0 < mean + k * sd < 1.0:
                edges.add(mean + k * sd)
    return sorted(edges)


def _panels(edges: list[float]) -> list[tuple[float, float]]:
    # Not itertools.pairwise: the package still supports Python 3.9.
    return [(edges[i - 1], edges[i]) for i in range(1, len(edges))]


def _beta_pdf(x: float, a: int, b: int, log_norm: float) -> float:
    if not 0.0 < x < 1.0:
        return 0.0
    return math.exp((a - 1) * math.log(x) + (b - 1) * math.log1p(-x) - log_norm)


def _prob_best_quadrature(params: Sequence[tuple[int, int]]) -> list[float]:
    """P(each Beta(a, b) is the largest) by panelled Gauss-Legendre quadrature.

    On each panel the pdfs are sampled at the nodes, the CDFs follow by the
    cumulative matrix plus the running total of earlier panels, and the
    integrands pdf_j * prod cdf_k are summed with the Gauss weights.
    """
    nodes, weights = _gauss_legendre(_GL_ORDER)
    cumulative = _cumulative_matrix(_GL_ORDER)
    log_norms = [_log_beta(a, b) for a, b in params]
    arms = range(len(params))
    cdf_start = [0.0] * len(params)
    totals = [0.0] * len(params)
    edges = _panel_edges(params)
    for lo, hi in _panels(edges):
        half = (hi - lo) / 2.0
        xs = [lo + half * (t + 1.0) for t in nodes]
        pdfs = [[_beta_pdf(x, a, b, c) for x in xs] for (a, b), c in zip(params, log_norms)]
        cdfs = [
            [start + half * math.fsum(m * f for m, f in zip(row, pdf)) for row in cumulative]
            if any(pdf)
            else [start] * _GL_ORDER
            for start, pdf in zip(cdf_start, pdfs)
        ]
        for i, w in enumerate(weights):
            for j in arms:
                term = half * w * pdfs[j][i]
                for k in arms:
                    if term and k != j:
                        term *= cdfs[k][i]
                totals[j] += term
        for k in arms:
            cdf_start[k] += half * math.fsum(w * f for w, f in zip(weights, pdfs[k]))
    norm = math.fsum(totals)
    return [min(1.0, max(0.0, t / norm)) for t in totals]


# -- per-goal summary for the dashboard ---------------------------------------

SEQUENTIAL, FIXED = "sequential", "fixed"


class Plan(NamedTuple):
    """How an experiment is judged: the deciding test and its parameters."""

    deciding_test: str = DEFAULTS.deciding_test
    alpha: float = DEFAULTS.alpha
    tuning: float = DEFAULTS.sequential_tuning_parameter
    mde: float = DEFAULTS.mde
    correction: str = DEFAULTS.comparison_correction
    family: str = DEFAULTS.comparison_family

    @classmethod
    def from_settings(cls, settings: Settings, deciding_test: str | None = None) -> Plan:
        """The settings' plan; ``deciding_test`` (a definition's) overrides theirs."""
        return cls(
            deciding_test or settings.deciding_test,
            settings.alpha,
            settings.sequential_tuning_parameter,
            settings.mde,
            settings.comparison_correction,
            settings.comparison_family,
        )


DEFAULT_PLAN = Plan()


def sequential_enough_data(control_s: int, control_n: int, variant_s: int, variant_n: int) -> bool:
    """The sequential test's minimum-data rule: enough_data() and at least
    MIN_SEQUENTIAL_OUTCOMES conversions and non-conversions in each arm.

    The confidence sequence is asymptotic: with a handful of conversions its
    normal approximation is loose and early looks call false differences
    (8.5% of A/A tests at a 1% rate without this rule; see docs/statistics.md).
    """
    cs, cn = _arm(control_s, control_n)
    vs, vn = _arm(variant_s, variant_n)
    fewest = min(cs, cn - cs, vs, vn - vs)
    return fewest >= MIN_SEQUENTIAL_OUTCOMES and enough_data(cs, cn, vs, vn)


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


@dataclass(frozen=True)
class VariantStats:
    """All dashboard figures for one variant of one goal.

    Comparison fields (uplift*, z, p_value, sequential_*, adjusted_p_value,
    prob_beat_control, decision_sample_per_variant, days_remaining) are None
    for the control row and whenever undefined.  ``p_value`` is the
    fixed-horizon z-test's; ``sequential_*`` the always-valid test's;
    ``adjusted_p_value`` is the deciding test's p-value adjusted for the
    experiment's many comparisons (see adjust_comparisons).  ``enough_data``
    is the deciding test's minimum-data rule against the control (for the
    control row: at least MIN_TRIALS trials); when False the dashboard shows
    "not enough data".  ``significant`` needs enough data and an adjusted
    p-value below alpha.
    """

    label: str
    is_control: bool
    successes: int
    trials: int
    rate: float | None
    rate_low: float | None
    rate_high: float | None
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
    prob_best: float
    enough_data: bool
    significant: bool
    sample_size_per_variant: float | None
    decision_sample_per_variant: float | None
    days_remaining: int | None

    @property
    def deciding_p_value(self) -> float | None:
        return self.sequential_p_value if self.deciding_test == SEQUENTIAL else self.p_value

    @property
    def deciding_interval(self) -> tuple[float, float] | None:
        """The deciding test's interval on the relative uplift, or None."""
        if self.deciding_test == SEQUENTIAL:
            low, high = self.sequential_uplift_low, self.sequential_uplift_high
        else:
            low, high = self.uplift_low, self.uplift_high
        return None if low is None or high is None else (low, high)


@dataclass(frozen=True)
class GoalStats:
    """Figures for one goal: one row per variant plus the experiment's SRM.

    The goal's decision_sample_per_variant and days_remaining are the largest
    of its open comparisons' (None if any is unknown): the time until every
    comparison can conclude; once all have, the smallest arm's trials and 0.
    """

    control: str
    variants: list[VariantStats]
    srm: SrmResult
    deciding_test: str
    sample_size_per_variant: float | None
    decision_sample_per_variant: float | None
    days_remaining: int | None

    @property
    def comparisons(self) -> list[VariantStats]:
        return [row for row in self.variants if not row.is_control]

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dicts/lists/numbers, ready for json.dumps."""
        return asdict(self)


def _point_uplift(control: tuple[int, int], arm: tuple[int, int]) -> float | None:
    """p_v/p_c - 1, or None when either rate is undefined or p_c is 0."""
    if control[0] == 0 or arm[1] == 0:
        return None
    return (arm[0] * control[1] - control[0] * arm[1]) / (control[0] * arm[1])


def _decision_sample(control: tuple[int, int], arm: tuple[int, int], plan: Plan) -> float | None:
    control_rate, rate = conversion_rate(*control), conversion_rate(*arm)
    if plan.deciding_test == FIXED:
        return sample_size_per_variant(control_rate, plan.mde, plan.alpha)
    if control_rate is None or rate is None:
        return None
    return sequential_decision_sample(control_rate, rate, plan.mde, plan.alpha, plan.tuning)


def _variant_row(
    label: str,
    arm: tuple[int, int],
    control: tuple[int, int],
    prob_best: float,
    confidence: float,
    plan: Plan,
    per_day: tuple[float, float],
) -> VariantStats:
    """Compare one variant arm with the control arm."""
    interval = wilson_interval(*arm, confidence) or (None, None)
    uplift = relative_uplift(*control, *arm, confidence)
    # With 0 variant successes the interval is undefined but the point is -100 %.
    point = uplift[0] if uplift else _point_uplift(control, arm)
    test = two_proportion_z_test(*control, *arm) or (None, None)
    sequential = sequential_test(*control, *arm, plan.alpha, plan.tuning) or (None, None, None)
    rule = sequential_enough_data if plan.deciding_test == SEQUENTIAL else enough_data
    enough = rule(*control, *arm)
    deciding_p = sequential[0] if plan.deciding_test == SEQUENTIAL else test[1]
    decision_sample = _decision_sample(control, arm, plan)
    return VariantStats(
        label=label,
        is_control=False,
        successes=arm[0],
        trials=arm[1],
        rate=conversion_rate(*arm),
        rate_low=interval[0],
        rate_high=interval[1],
        uplift=point,
        uplift_low=uplift[1] if uplift else None,
        uplift_high=uplift[2] if uplift else None,
        z=test[0],
        p_value=test[1],
        sequential_p_value=sequential[0],
        sequential_uplift_low=sequential[1],
        sequential_uplift_high=sequential[2],
        deciding_test=plan.deciding_test,
        adjusted_p_value=deciding_p,  # a family of one until adjust_comparisons
        prob_beat_control=probability_to_beat(*control, *arm),
        prob_best=prob_best,
        enough_data=enough,
        significant=enough and deciding_p is not None and deciding_p < plan.alpha,
        sample_size_per_variant=sample_size_per_variant(conversion_rate(*control), plan.mde, plan.alpha),
        decision_sample_per_variant=decision_sample,
        days_remaining=days_to_reach(decision_sample, [(control[1], per_day[0]), (arm[1], per_day[1])]),
    )


def _control_row(label: str, arm: tuple[int, int], prob_best: float, confidence: float, plan: Plan) -> VariantStats:
    """The control's own figures; comparison fields stay None."""
    interval = wilson_interval(*arm, confidence) or (None, None)
    return VariantStats(
        label=label,
        is_control=True,
        successes=arm[0],
        trials=arm[1],
        rate=conversion_rate(*arm),
        rate_low=interval[0],
        rate_high=interval[1],
        uplift=None,
        uplift_low=None,
        uplift_high=None,
        z=None,
        p_value=None,
        sequential_p_value=None,
        sequential_uplift_low=None,
        sequential_uplift_high=None,
        deciding_test=plan.deciding_test,
        adjusted_p_value=None,
        prob_beat_control=None,
        prob_best=prob_best,
        enough_data=arm[1] >= MIN_TRIALS,
        significant=False,
        sample_size_per_variant=sample_size_per_variant(conversion_rate(*arm), plan.mde, plan.alpha),
        decision_sample_per_variant=None,
        days_remaining=None,
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
) -> GoalStats:
    """Every dashboard figure for one goal, from (label, successes, trials) rows.

    ``weights`` is the configured traffic split for the SRM check (default
    equal); the SRM test runs on the trial counts.  ``trials_per_day`` (per
    label, the recent pace) gives days_remaining; without it they are None.
    Rows keep input order.
    """
    labels = [row[0] for row in variants]
    if len(set(labels)) != len(labels) or control not in labels:
        raise ValueError("labels must be unique and include the control")
    arms = [_arm(s, n) for _, s, n in variants]
    control_arm = arms[labels.index(control)]
    pace = dict(trials_per_day or {})
    best = probability_to_be_best(arms)
    rows = [
        _control_row(label, arm, p_best, confidence, plan)
        if label == control
        else _variant_row(
            label, arm, control_arm, p_best, confidence, plan, (pace.get(control, 0.0), pace.get(label, 0.0))
        )
        for label, arm, p_best in zip(labels, arms, best)
    ]
    srm = sample_ratio_mismatch([n for _, n in arms], weights if weights is not None else [1.0] * len(arms))
    return _goal_stats(control, rows, srm, plan)


def _goal_stats(control: str, rows: list[VariantStats], srm: SrmResult, plan: Plan) -> GoalStats:
    """The goal's figures. Its time to decide is that of the comparisons still
    open (neither significant nor within ±mde): a concluded comparison needs
    no more data, so it does not hold the goal up."""
    open_rows = [row for row in rows if not row.is_control and not _settled(row, plan)]
    if open_rows:
        decision_sample = _largest([row.decision_sample_per_variant for row in open_rows])
        days = _largest([row.days_remaining for row in open_rows])
    else:  # every comparison concluded at the sample it has
        decision_sample, days = min(row.trials for row in rows), 0
    return GoalStats(
        control=control,
        variants=rows,
        srm=srm,
        deciding_test=plan.deciding_test,
        sample_size_per_variant=next(row.sample_size_per_variant for row in rows if row.is_control),
        decision_sample_per_variant=decision_sample,
        days_remaining=days,
    )


def _settled(row: VariantStats, plan: Plan) -> bool:
    """Whether the deciding test has concluded this comparison: significant,
    or its interval within ±mde (no meaningful difference)."""
    return row.significant or (row.enough_data and _within_mde(row, plan.mde))


def adjust_comparisons(goals: Sequence[GoalStats], plan: Plan = DEFAULT_PLAN) -> list[GoalStats]:
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
        raw = [1.0 if row.deciding_p_value is None else row.deciding_p_value for _, row in members]
        for (g, row), value in zip(members, adjust_p_values(raw, plan.correction)):
            adjusted[(g, row.label)] = value
    result = []
    for g, goal in enumerate(goals):
        rows = [row if row.is_control else _with_adjusted(row, adjusted[(g, row.label)], plan) for row in goal.variants]
        result.append(_goal_stats(goal.control, rows, goal.srm, plan))
    return result


def _with_adjusted(row: VariantStats, value: float, plan: Plan) -> VariantStats:
    shown = None if row.deciding_p_value is None else value
    return replace(
        row, adjusted_p_value=shown, significant=row.enough_data and shown is not None and shown < plan.alpha
    )


# -- the decision ---------------------------------------------------------------

SHIP, KEEP_CONTROL, NO_DIFFERENCE, KEEP_RUNNING, CHECK_SPLIT, NOT_ENOUGH_DATA = (
    "ship", "keep control", "no meaningful difference", "keep running", "check the traffic split", "not enough data",
)  # fmt: skip


@dataclass(frozen=True)
class Decision:
    """What the deciding figures of one goal say to do.

    ``variant`` is the one to ship (SHIP) or the worse one (KEEP_CONTROL),
    with its uplift and deciding interval; ``days_remaining`` goes with
    KEEP_RUNNING.
    """

    kind: str
    variant: str | None = None
    uplift: float | None = None
    interval: tuple[float, float] | None = None
    days_remaining: int | None = None
    decision_sample_per_variant: float | None = None


def decide(goal: GoalStats | None, srm_mismatch: bool, plan: Plan = DEFAULT_PLAN) -> Decision:
    """The decision on one goal (None: the goal has no usable counts yet).

    In order: a sample-ratio mismatch voids every figure; below the minimum
    data of any comparison nothing is decided; a variant significantly
    better ships (the largest uplift among them); when every variant is
    significantly worse or its deciding interval lies within ±mde, the
    control stays (NO_DIFFERENCE when none is worse); else keep running.
    """
    if srm_mismatch:
        return Decision(CHECK_SPLIT)
    rows = goal.comparisons if goal else []
    if not rows or not all(row.enough_data and row.deciding_interval for row in rows):
        return Decision(NOT_ENOUGH_DATA)
    better = [row for row in rows if row.significant and (row.uplift or 0.0) > 0.0]
    if better:
        best = max(better, key=lambda row: row.uplift or 0.0)
        return Decision(SHIP, best.label, best.uplift, best.deciding_interval)
    worse = [row for row in rows if row.significant]
    settled = [row for row in rows if _settled(row, plan)]
    if len(settled) == len(rows):
        if worse:
            worst = min(worse, key=lambda row: row.uplift or 0.0)
            return Decision(KEEP_CONTROL, worst.label, worst.uplift, worst.deciding_interval)
        return Decision(NO_DIFFERENCE)
    assert goal is not None
    return Decision(
        KEEP_RUNNING, days_remaining=goal.days_remaining, decision_sample_per_variant=goal.decision_sample_per_variant
    )


def _within_mde(row: VariantStats, mde: float) -> bool:
    interval = row.deciding_interval
    return interval is not None and -mde <= interval[0] and interval[1] <= mde
