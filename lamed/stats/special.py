"""Special functions the tests need beyond the standard library's: the
regularised incomplete gamma function and the chi-square tail built on it.
Hand-written (Numerical Recipes 6.2) because scipy, which has them, is too
large for the Lambda bundle and the stdlib has neither."""

from __future__ import annotations

import math
from statistics import NormalDist


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


# -- Student's t (the test of a mean, lamed.stats.means) ---------------------------


def _beta_fraction(a: float, b: float, x: float) -> float:
    """The continued fraction of the incomplete beta function (Numerical
    Recipes 6.4, modified Lentz), for x < (a + 1) / (a + b + 2)."""
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (tiny if abs(d) < tiny else d)
    h = d
    for m in range(1, 100_000):
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1.0 + numerator * d
            d = 1.0 / (tiny if abs(d) < tiny else d)
            c = 1.0 + numerator / c
            c = tiny if abs(c) < tiny else c
            h *= d * c
        if abs(d * c - 1.0) < 1e-16:
            break
    return h


# Stirling's series of log Gamma beyond its leading terms: B_2k / (2k (2k - 1)).
_STIRLING = (1 / 12, -1 / 360, 1 / 1260, -1 / 1680, 1 / 1188, -691 / 360360, 1 / 156)


def _stirling_rest(z: float) -> float:
    """log Gamma(z) - ((z - 1/2) log z - z + log(2 pi) / 2), for z >= 10 (below 1e-16 there)."""
    inverse, square = 1.0 / z, 1.0 / (z * z)
    total, power = 0.0, inverse
    for coefficient in _STIRLING:
        total += coefficient * power
        power *= square
    return total


def _log_beta(a: float, b: float) -> float:
    """log B(a, b). For a large argument the difference log Gamma(big + small)
    - log Gamma(big) is taken from Stirling's series, without subtracting two
    large logs (math.lgamma(1e6) is 1.3e7: a difference of two such loses
    1e-9, the precision the tests of a mean need)."""
    big, small = max(a, b), min(a, b)
    if big < 10.0:
        return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)
    ratio = (big - 0.5) * math.log1p(small / big) + small * math.log(big + small) - small
    return math.lgamma(small) - (ratio + _stirling_rest(big + small) - _stirling_rest(big))


def beta_i(a: float, b: float, x: float, log_x: float | None = None, log_1mx: float | None = None) -> float:
    """The regularized incomplete beta function I_x(a, b). ``log_x`` and
    ``log_1mx``, when the caller has them more precisely than log(x) and
    log(1 - x) (a large ``a`` multiplies them), replace those."""
    if not 0.0 <= x <= 1.0:
        raise ValueError(f"need 0 <= x <= 1, got {x}")
    if x in (0.0, 1.0):
        return x
    log_x = math.log(x) if log_x is None else log_x
    log_1mx = math.log1p(-x) if log_1mx is None else log_1mx
    log_front = a * log_x + b * log_1mx - _log_beta(a, b)
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _beta_fraction(a, b, x) / a
    return 1.0 - math.exp(log_front) * _beta_fraction(b, a, 1.0 - x) / b


def student_t_two_sided_p(t: float, dof: float) -> float:
    """P(|T| >= |t|) for Student's t with ``dof`` degrees of freedom (any
    positive real, as Welch's are): I_{dof/(dof+t²)}(dof/2, 1/2)."""
    if dof <= 0:
        raise ValueError(f"degrees of freedom must be positive, got {dof}")
    if t == 0.0:
        return 1.0
    square = t * t
    a, x, y = dof / 2.0, dof / (dof + square), square / (dof + square)  # y = 1 - x, without cancellation
    log_x, log_y = -math.log1p(square / dof), math.log(square) - math.log(dof + square)
    if x < (a + 1.0) / (a + 2.5):
        return beta_i(a, 0.5, x, log_x, log_y)
    return 1.0 - beta_i(0.5, a, y, log_y, log_x)


def student_t_quantile(q: float, dof: float) -> float:
    """The ``q`` quantile (q in (1/2, 1)) of Student's t: Newton's method on
    the two-sided tail from the normal quantile, which approaches the root
    from below (the tail is convex), then polished by bisection."""
    if not 0.5 < q < 1.0:
        raise ValueError(f"need 1/2 < q < 1, got {q}")
    target = 2.0 * (1.0 - q)
    log_density = -_log_beta(dof / 2.0, 0.5) - 0.5 * math.log(dof)  # 1 / (sqrt(dof) B(dof/2, 1/2))
    t = NormalDist().inv_cdf(q)
    for _ in range(500):
        density = math.exp(log_density - (dof + 1.0) / 2.0 * math.log1p(t * t / dof))
        step = (student_t_two_sided_p(t, dof) - target) / (2.0 * density)
        t += step
        if abs(step) <= 1e-15 * t:
            break
    return t
