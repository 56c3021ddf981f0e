"""Bayesian figures under uniform Beta(1, 1) priors: the probability that a
variant beats the control, and that each arm is best. Descriptive only: the
decision rests on the deciding test (sequential or frequentist)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from functools import cache

from lamed.stats.inputs import arm

_MILLER_MAX_TERMS = 10_000  # ~3 ms of lgamma, the quadrature's cost
_GL_ORDER = 12  # Gauss-Legendre nodes per panel
_PANEL_SDS = 20  # panel edges at posterior mean ± k·sd for |k| <= this


def _posterior(successes: int, trials: int) -> tuple[int, int]:
    """Beta(s + 1, n - s + 1): the posterior under a uniform Beta(1, 1) prior."""
    s, n = arm(successes, trials)
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
    forms: tuple[tuple[int, Callable[[], float]], ...] = (
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
    return list(itertools.pairwise(edges))


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
