"""Special functions the tests need beyond the standard library's: the
regularised incomplete gamma function and the chi-square tail built on it.
Hand-written (Numerical Recipes 6.2) because scipy, which has them, is too
large for the Lambda bundle and the stdlib has neither."""

from __future__ import annotations

import math


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
