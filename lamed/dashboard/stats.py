"""Conversion statistics for the dashboard: pure functions on plain numbers.

Python stdlib only (no numpy/scipy) so the module ships in the Lambda bundle
as is.  An "arm" is a ``(successes, trials)`` pair of non-negative integers.
A figure that the data cannot define (a rate with zero trials, a test with no
variance) is ``None`` rather than NaN, so every result is JSON-serialisable.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import cache
from statistics import NormalDist
from typing import Any

SRM_ALPHA = 0.001
"""Sample-ratio mismatch is flagged below this p-value: SRM checks run on
every dashboard view, so a strict threshold keeps false alarms rare."""

MIN_TRIALS = 30
"""Fewer trials than this in an arm means "not enough data"."""

MIN_EXPECTED = 5.0
"""Smallest expected success and failure count per arm (classic rule for
the normal approximation behind the z-test) before figures are shown."""

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
    weight_sum = math.fsum(weights)
    expected = [total * w / weight_sum for w in weights]
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


@dataclass(frozen=True)
class VariantStats:
    """All dashboard figures for one variant of one goal.

    Comparison fields (uplift*, z, p_value, prob_beat_control) are None for
    the control row and whenever undefined.  ``enough_data`` is the
    enough_data() rule against the control (for the control row: at least
    MIN_TRIALS trials); when False the dashboard shows "not enough data".
    ``significant`` needs enough data and p_value < alpha.
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
    prob_beat_control: float | None
    prob_best: float
    enough_data: bool
    significant: bool


@dataclass(frozen=True)
class GoalStats:
    """Figures for one goal: one row per variant plus the experiment's SRM."""

    control: str
    variants: list[VariantStats]
    srm: SrmResult

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dicts/lists/numbers, ready for json.dumps."""
        return asdict(self)


def _point_uplift(control: tuple[int, int], arm: tuple[int, int]) -> float | None:
    """p_v/p_c - 1, or None when either rate is undefined or p_c is 0."""
    if control[0] == 0 or arm[1] == 0:
        return None
    return (arm[0] * control[1] - control[0] * arm[1]) / (control[0] * arm[1])


def _variant_row(
    label: str,
    arm: tuple[int, int],
    control: tuple[int, int],
    prob_best: float,
    confidence: float,
    alpha: float,
) -> VariantStats:
    """Compare one variant arm with the control arm."""
    interval = wilson_interval(*arm, confidence) or (None, None)
    uplift = relative_uplift(*control, *arm, confidence)
    # With 0 variant successes the interval is undefined but the point is -100 %.
    point = uplift[0] if uplift else _point_uplift(control, arm)
    test = two_proportion_z_test(*control, *arm) or (None, None)
    enough = enough_data(*control, *arm)
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
        prob_beat_control=probability_to_beat(*control, *arm),
        prob_best=prob_best,
        enough_data=enough,
        significant=enough and test[1] is not None and test[1] < alpha,
    )


def _control_row(label: str, arm: tuple[int, int], prob_best: float, confidence: float) -> VariantStats:
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
        prob_beat_control=None,
        prob_best=prob_best,
        enough_data=arm[1] >= MIN_TRIALS,
        significant=False,
    )


def summarize_goal(
    variants: Sequence[tuple[str, int, int]],
    control: str,
    weights: Sequence[float] | None = None,
    confidence: float = 0.95,
    alpha: float = 0.05,
) -> GoalStats:
    """Every dashboard figure for one goal, from (label, successes, trials) rows.

    ``weights`` is the configured traffic split for the SRM check (default
    equal); the SRM test runs on the trial counts.  Rows keep input order.
    """
    labels = [row[0] for row in variants]
    if len(set(labels)) != len(labels) or control not in labels:
        raise ValueError("labels must be unique and include the control")
    arms = [_arm(s, n) for _, s, n in variants]
    control_arm = arms[labels.index(control)]
    best = probability_to_be_best(arms)
    rows = [
        _control_row(label, arm, p_best, confidence)
        if label == control
        else _variant_row(label, arm, control_arm, p_best, confidence, alpha)
        for label, arm, p_best in zip(labels, arms, best)
    ]
    srm = sample_ratio_mismatch([n for _, n in arms], weights if weights is not None else [1.0] * len(arms))
    return GoalStats(control=control, variants=rows, srm=srm)
