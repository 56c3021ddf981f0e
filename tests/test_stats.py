"""lamed.stats against independent references (scipy; test-only dependency).

Tolerances: frequentist figures must match to 1e-9 *relative*, with an
absolute floor of 1e-12 for values at or near 0 (FREQ).  Bayesian figures
are held to 1e-6 absolute (BAYES): stricter than the 1e-3 the dashboard
needs, because the exact sum and the quadrature reach ~1e-9.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import integrate, special
from scipy import stats as sps

from lamed.stats import bayesian, frequentist, inputs, srm, summary
from lamed.stats import special as gamma_functions

FREQ = {"rel": 1e-9, "abs": 1e-12}
BAYES = 1e-6

# (control_s, control_n, variant_s, variant_n): edge cases and typical data.
PAIRS = [
    (0, 0, 0, 0),  # no trials at all
    (0, 0, 5, 10),  # control without trials
    (0, 100, 0, 100),  # no successes anywhere
    (0, 100, 3, 100),  # control at 0
    (4, 100, 0, 100),  # variant at 0
    (100, 100, 100, 100),  # all successes
    (100, 100, 95, 100),
    (1, 1, 0, 1),  # tiny
    (1, 2, 2, 3),
    (2, 7, 5, 9),
    (48, 1000, 63, 1000),
    (120, 2400, 150, 2500),
    (30, 30000, 45, 29000),  # low rate, unequal arms
    (999, 1000, 1000, 1000),
    (3, 1_000_000, 7, 1_000_000),  # large n, tiny rate
    (100_000, 1_000_000, 101_000, 1_000_000),  # large counts
    (500_000, 1_000_000, 500_900, 1_000_000),
    (999_990, 1_000_000, 999_995, 1_000_000),
]

ARM_SETS = [
    [(5, 10)],  # one variant
    [(48, 1000), (63, 1000)],
    [(0, 0), (0, 0)],
    [(0, 50), (0, 80), (1, 60)],
    [(48, 1000), (63, 1000), (55, 1000), (70, 1000), (40, 1000)],  # 5 arms
    [(100, 100), (99, 100), (100, 100), (98, 100), (97, 100)],
    [(1, 2), (0, 1), (2, 3), (1, 1), (0, 0)],  # tiny counts
    [(10, 100)] * 5,  # identical arms
    [  # 5 large arms
        (100_000, 1_000_000),
        (100_300, 1_000_000),
        (100_100, 1_000_000),
        (99_800, 1_000_000),
        (100_500, 1_000_000),
    ],
    [(1, 10), (500, 10_000), (50_000, 1_000_000), (2, 3), (0, 0)],  # mixed sizes
]


# -- references (test-only) ----------------------------------------------------


def ref_wilson(s, n, confidence):
    ci = sps.binomtest(s, n).proportion_ci(confidence_level=confidence, method="wilson")
    return max(0.0, float(ci.low)), min(1.0, float(ci.high))


def ref_uplift(cs, cn, vs, vn, confidence):
    """Textbook delta method on the log relative risk."""
    pc, pv = cs / cn, vs / vn
    se = math.sqrt((1 - pv) / (vn * pv) + (1 - pc) / (cn * pc))
    z = sps.norm.ppf(0.5 + confidence / 2)
    log_rr = math.log(pv / pc)
    return pv / pc - 1, math.exp(log_rr - z * se) - 1, math.exp(log_rr + z * se) - 1


def ref_z_test(s1, n1, s2, n2):
    """Pooled z from the textbook formula; p from the equivalent 2x2 chi-square."""
    p = (s1 + s2) / (n1 + n2)
    z = (s2 / n2 - s1 / n1) / math.sqrt(p * (1 - p) * (1 / n1 + 1 / n2))
    table = [[s1, n1 - s1], [s2, n2 - s2]]
    chi2, p_value, _, _ = sps.chi2_contingency(table, correction=False)
    assert chi2 == pytest.approx(z * z, rel=1e-9)
    return z, p_value


def ref_prob_best(arms):
    """P(arm j best) = integral of pdf_j * prod_k cdf_k, by scipy quad."""
    params = [(s + 1, n - s + 1) for s, n in arms]
    out = []
    for j, (a, b) in enumerate(params):
        lo = sps.beta.ppf(1e-13, a, b)
        hi = sps.beta.isf(1e-13, a, b)
        others = [p for k, p in enumerate(params) if k != j]
        hints = [c / (c + d) for c, d in others if lo < c / (c + d) < hi]
        log_norm = special.betaln(a, b)

        def integrand(x, a=a, b=b, log_norm=log_norm, others=others):
            pdf = math.exp((a - 1) * math.log(x) + (b - 1) * math.log1p(-x) - log_norm)
            return pdf * math.prod(special.betainc(c, d, x) for c, d in others)

        value, _ = integrate.quad(integrand, lo, hi, points=hints or None, limit=500, epsabs=1e-12)
        out.append(value)
    return out


# -- rates and intervals -------------------------------------------------------


@pytest.mark.parametrize(
    "s, n",
    [(0, 1), (1, 1), (0, 10), (10, 10), (1, 2), (5, 37), (500, 1000), (3, 10**6)]
    + [(10**5, 10**6), (10**6, 10**6), (999_999, 10**6)],
)
@pytest.mark.parametrize("confidence", [0.9, 0.95, 0.99])
def test_wilson_matches_scipy(s, n, confidence):
    low, high = inputs.wilson_interval(s, n, confidence)
    ref_low, ref_high = ref_wilson(s, n, confidence)
    assert low == pytest.approx(ref_low, **FREQ)
    assert high == pytest.approx(ref_high, **FREQ)
    assert 0.0 <= low <= s / n <= high <= 1.0


def test_wilson_and_rate_with_zero_trials_are_none():
    assert inputs.wilson_interval(0, 0) is None
    assert inputs.conversion_rate(0, 0) is None


@pytest.mark.parametrize("s, n", [(0, 1), (3, 7), (7, 7), (123_457, 1_000_000)])
def test_conversion_rate(s, n):
    assert inputs.conversion_rate(s, n) == pytest.approx(s / n, **FREQ)


@pytest.mark.parametrize(
    "args, error",
    [((5, 4), ValueError), ((-1, 4), ValueError), ((1.5, 4), TypeError)],
)
def test_invalid_counts_are_rejected(args, error):
    with pytest.raises(error):
        inputs.wilson_interval(*args)
    with pytest.raises(error):
        bayesian.probability_to_beat(1, 10, *args)


def test_invalid_confidence_is_rejected():
    with pytest.raises(ValueError):
        inputs.wilson_interval(1, 10, confidence=1.0)


def test_wilson_coverage_is_close_to_nominal():
    """Statistical sanity, independent of any formula: ~95 % coverage."""
    rng = np.random.default_rng(7)
    n, p = 200, 0.03
    hits = sum(low <= p <= high for low, high in (inputs.wilson_interval(int(s), n) for s in rng.binomial(n, p, 4000)))
    assert 0.93 <= hits / 4000 <= 0.97


# -- relative uplift -----------------------------------------------------------


@pytest.mark.parametrize("cs, cn, vs, vn", PAIRS)
@pytest.mark.parametrize("confidence", [0.9, 0.95])
def test_relative_uplift_matches_delta_method(cs, cn, vs, vn, confidence):
    result = frequentist.relative_uplift(cs, cn, vs, vn, confidence)
    if cs == 0 or vs == 0:
        assert result is None
        return
    for got, ref in zip(result, ref_uplift(cs, cn, vs, vn, confidence)):
        assert got == pytest.approx(ref, **FREQ)
    assert result[1] <= result[0] <= result[2]


def test_relative_uplift_coverage_is_close_to_nominal():
    rng = np.random.default_rng(11)
    pc, pv, n = 0.10, 0.12, 2000
    true_uplift = pv / pc - 1
    hits = 0
    for cs, vs in zip(rng.binomial(n, pc, 3000), rng.binomial(n, pv, 3000)):
        _, low, high = frequentist.relative_uplift(int(cs), n, int(vs), n)
        hits += low <= true_uplift <= high
    assert 0.93 <= hits / 3000 <= 0.97


# -- z-test --------------------------------------------------------------------


@pytest.mark.parametrize("cs, cn, vs, vn", PAIRS)
def test_z_test_matches_reference(cs, cn, vs, vn):
    result = frequentist.two_proportion_z_test(cs, cn, vs, vn)
    if cn == 0 or vn == 0 or cs + vs in (0, cn + vn):
        assert result is None
        return
    z, p_value = result
    ref_z, ref_p = ref_z_test(cs, cn, vs, vn)
    assert z == pytest.approx(ref_z, **FREQ)
    assert p_value == pytest.approx(ref_p, **FREQ)
    assert p_value == pytest.approx(2 * sps.norm.sf(abs(ref_z)), **FREQ)


def test_z_test_sign_and_extreme_p_value():
    z, p_value = frequentist.two_proportion_z_test(1000, 10_000, 3000, 10_000)
    assert z > 0
    assert frequentist.two_proportion_z_test(3000, 10_000, 1000, 10_000)[0] == -z
    # Far tail: relative precision must survive (no 1 - cdf cancellation).
    assert p_value == pytest.approx(2 * sps.norm.sf(z), rel=1e-9)
    assert 0 < p_value < 1e-100


# -- chi-square and SRM --------------------------------------------------------


@pytest.mark.parametrize("df", range(1, 21))
def test_chi2_sf_matches_scipy(df):
    xs = np.concatenate([np.logspace(-8, math.log10(1500), 120), [df - 1e-9, df, df + 2]])
    for x in xs:
        ref = sps.chi2.sf(x, df)
        got = gamma_functions.chi2_sf(float(x), df)
        assert got == pytest.approx(ref, rel=1e-9, abs=1e-300), (df, x)


@pytest.mark.parametrize("a", [0.1, 0.5, 1.0, 2.5, 7.7, 50.0, 333.3])
def test_gamma_q_matches_scipy(a):
    for x in [1e-6, 0.01, 0.3 * a, a - 0.5, a, a + 1, 1.7 * a + 3, 10 * a + 30]:
        if x > 0:
            assert gamma_functions.gamma_q(a, x) == pytest.approx(special.gammaincc(a, x), rel=1e-9, abs=1e-300), (a, x)


def test_chi2_sf_edges():
    assert gamma_functions.chi2_sf(0.0, 3) == 1.0
    assert gamma_functions.chi2_sf(-1.0, 3) == 1.0
    with pytest.raises(ValueError):
        gamma_functions.chi2_sf(1.0, 0)


@pytest.mark.parametrize(
    "counts, weights",
    [
        ([10_000, 10_500], [1, 1]),
        ([10_000, 10_050], [0.5, 0.5]),
        ([5, 9], [1, 1]),
        ([900, 1100, 1000], [1, 1, 1]),
        ([2000, 1000], [2, 1]),
        ([120, 80, 100, 95, 105], [1, 1, 1, 1, 1]),
        ([10**6, 10**6 + 5000], [1, 1]),
        ([0, 50], [1, 1]),
        ([700, 150, 150], [0.7, 0.15, 0.15]),
    ],
)
def test_srm_matches_scipy_chisquare(counts, weights):
    result = srm.sample_ratio_mismatch(counts, weights)
    total = sum(counts)
    expected = [total * w / sum(weights) for w in weights]
    ref = sps.chisquare(counts, f_exp=expected)
    assert result.chi2 == pytest.approx(ref.statistic, **FREQ)
    assert result.p_value == pytest.approx(ref.pvalue, rel=1e-9, abs=1e-300)
    assert result.mismatch == (ref.pvalue < 0.001)


def test_srm_flag():
    assert srm.sample_ratio_mismatch([10_000, 10_500], [0.5, 0.5]).mismatch
    assert not srm.sample_ratio_mismatch([10_000, 10_050], [0.5, 0.5]).mismatch


def test_srm_without_anything_to_test():
    assert srm.sample_ratio_mismatch([1234], [1]) == srm.SrmResult(0.0, 1.0, False)
    assert srm.sample_ratio_mismatch([0, 0], [1, 1]) == srm.SrmResult(0.0, 1.0, False)
    with pytest.raises(ValueError):
        srm.sample_ratio_mismatch([10, 10], [1, 0])
    with pytest.raises(ValueError):
        srm.sample_ratio_mismatch([10, 10], [1])


# -- Bayesian ------------------------------------------------------------------


@pytest.fixture(params=["exact", "quadrature"])
def beat_path(request, monkeypatch):
    """Run probability_to_beat via the exact sum and via the quadrature."""
    if request.param == "quadrature":
        monkeypatch.setattr(bayesian, "_MILLER_MAX_TERMS", -1)
    return request.param


@pytest.mark.parametrize("cs, cn, vs, vn", PAIRS)
def test_probability_to_beat_matches_quad(cs, cn, vs, vn, beat_path):
    ref = ref_prob_best([(cs, cn), (vs, vn)])[1]
    assert bayesian.probability_to_beat(cs, cn, vs, vn) == pytest.approx(ref, abs=BAYES)


@pytest.mark.parametrize(
    "cs, cn, vs, vn",
    [(3, 40, 25, 30), (25, 30, 3, 40), (12, 20, 2, 50), (40, 45, 1, 3)],
)
def test_probability_to_beat_every_sum_form(cs, cn, vs, vn):
    """Each shortest-sum branch (a_v, a_c, b_c, b_v) is taken by one case."""
    ref = ref_prob_best([(cs, cn), (vs, vn)])[1]
    assert bayesian.probability_to_beat(cs, cn, vs, vn) == pytest.approx(ref, abs=BAYES)
    assert bayesian.probability_to_beat(vs, vn, cs, cn) == pytest.approx(1 - ref, abs=BAYES)


@pytest.mark.parametrize("arms", ARM_SETS)
def test_probability_to_be_best_matches_quad(arms):
    got = bayesian.probability_to_be_best(arms)
    assert len(got) == len(arms)
    assert got == pytest.approx(ref_prob_best(arms), abs=BAYES)
    assert math.fsum(got) == pytest.approx(1.0, abs=1e-12)


def test_probability_to_be_best_matches_monte_carlo():
    """A second, sampling-based reference (SE ~ 4e-4 with 1e6 draws)."""
    arms = [(48, 1000), (63, 1000), (55, 1000), (70, 1000), (40, 1000)]
    rng = np.random.default_rng(3)
    draws = np.stack([rng.beta(s + 1, n - s + 1, 1_000_000) for s, n in arms])
    shares = np.bincount(draws.argmax(axis=0), minlength=len(arms)) / draws.shape[1]
    assert bayesian.probability_to_be_best(arms) == pytest.approx(shares.tolist(), abs=3e-3)


def test_identical_arms_share_probability_exactly():
    assert bayesian.probability_to_be_best([(10, 100)] * 4) == pytest.approx([0.25] * 4, abs=1e-9)
    assert bayesian.probability_to_beat(10, 100, 10, 100) == pytest.approx(0.5, abs=1e-9)
    assert bayesian.probability_to_be_best([]) == []


# -- "not enough data" ---------------------------------------------------------


@pytest.mark.parametrize(
    "cs, cn, vs, vn, expected",
    [
        (0, 0, 0, 0, False),
        (10, 29, 10, 1000, False),  # control below MIN_TRIALS
        (15, 30, 15, 30, True),
        (2, 1000, 2, 1000, False),  # expected successes 2 < 5
        (5, 1000, 5, 1000, True),
        (0, 1000, 10, 1000, True),  # pooled rate: 5 expected each
        (0, 1000, 9, 1000, False),  # 4.5 expected
        (998, 1000, 995, 1000, False),  # too few failures
        (980, 1000, 990, 1000, True),
        (100, 100, 100, 100, False),  # no failures at all
    ],
)
def test_enough_data(cs, cn, vs, vn, expected):
    assert frequentist.enough_data(cs, cn, vs, vn) is expected


# -- per-goal summary ----------------------------------------------------------


def test_summarize_goal_figures():
    rows = [("control", 480, 10_000), ("b", 560, 10_000), ("c", 470, 9_900)]
    result = summary.summarize_goal(rows, "control")
    data = json.loads(json.dumps(result.to_dict()))  # plain, serialisable
    by_label = {v["label"]: v for v in data["variants"]}
    assert [v["label"] for v in data["variants"]] == ["control", "b", "c"]

    control = by_label["control"]
    assert control["is_control"] and control["enough_data"]
    assert control["rate"] == pytest.approx(0.048, **FREQ)
    assert (control["rate_low"], control["rate_high"]) == pytest.approx(ref_wilson(480, 10_000, 0.95), **FREQ)
    for key in (
        "uplift",
        "uplift_low",
        "uplift_high",
        "z",
        "p_value",
        "prob_beat_control",
    ):
        assert control[key] is None

    best = ref_prob_best([(s, n) for _, s, n in rows])
    for (label, s, n), p_best in zip(rows[1:], best[1:]):
        row = by_label[label]
        ref_z, ref_p = ref_z_test(480, 10_000, s, n)
        assert row["rate"] == pytest.approx(s / n, **FREQ)
        assert [row["uplift"], row["uplift_low"], row["uplift_high"]] == pytest.approx(
            list(ref_uplift(480, 10_000, s, n, 0.95)), **FREQ
        )
        assert (row["z"], row["p_value"]) == pytest.approx((ref_z, ref_p), **FREQ)
        assert row["prob_best"] == pytest.approx(p_best, abs=BAYES)
        assert row["prob_beat_control"] == pytest.approx(ref_prob_best([(480, 10_000), (s, n)])[1], abs=BAYES)
        # The badge decides from the always-valid test by default: b's fixed-horizon
        # p of 0.011 would have been "significant" when looked at today.
        assert row["deciding_test"] == "sequential"
        assert row["significant"] is bool(row["sequential_p_value"] < 0.05)
    assert by_label["b"]["p_value"] < 0.05 and not by_label["b"]["significant"]
    fixed = summary.summarize_goal(rows, "control", plan=inputs.Plan(deciding_test="fixed")).variants
    assert [row.significant for row in fixed] == [False, True, False]
    assert control["prob_best"] == pytest.approx(best[0], abs=BAYES)

    ref_srm = sps.chisquare([10_000, 10_000, 9_900])
    assert data["srm"]["chi2"] == pytest.approx(ref_srm.statistic, **FREQ)
    assert data["srm"]["p_value"] == pytest.approx(ref_srm.pvalue, **FREQ)
    assert data["srm"]["mismatch"] is False


def test_summarize_goal_not_enough_data_is_never_significant():
    # p < 0.05 on tiny counts, but the rule says not enough data.
    result = summary.summarize_goal([("a", 0, 20), ("b", 8, 20)], "a")
    variant = result.variants[1]
    assert variant.comparison.p_value < 0.05
    assert not variant.enough_data and not variant.significant
    assert not result.variants[0].enough_data


def test_summarize_goal_edge_cases():
    only = summary.summarize_goal([("a", 3, 10)], "a")
    assert only.variants[0].prob_best == 1.0
    assert only.srm == srm.SrmResult(0.0, 1.0, False)

    zero = summary.summarize_goal([("a", 50, 1000), ("b", 0, 1000)], "a", plan=inputs.Plan(deciding_test="fixed"))
    variant = zero.variants[1]
    assert variant.comparison.uplift == -1.0
    assert variant.comparison.uplift_low is None and variant.comparison.uplift_high is None
    assert variant.enough_data and variant.significant
    # The sequential test is undefined without conversions (as in gbstats): never significant.
    sequential = summary.summarize_goal([("a", 50, 1000), ("b", 0, 1000)], "a").variants[1]
    assert (
        sequential.comparison.sequential_p_value is None and not sequential.enough_data and not sequential.significant
    )

    empty = summary.summarize_goal([("a", 0, 0), ("b", 0, 0)], "a")
    assert empty.variants[1].rate is None and empty.variants[1].comparison.p_value is None
    assert empty.variants[1].comparison.prob_beat_control == pytest.approx(0.5, abs=BAYES)
    json.dumps(empty.to_dict())

    skewed = summary.summarize_goal([("a", 500, 10_000), ("b", 500, 10_500)], "a", weights=[1, 1])
    assert skewed.srm.mismatch
    assert not summary.summarize_goal([("a", 500, 20_000), ("b", 500, 10_000)], "a", weights=[2, 1]).srm.mismatch

    with pytest.raises(ValueError):
        summary.summarize_goal([("a", 1, 2)], "missing")
    with pytest.raises(ValueError):
        summary.summarize_goal([("a", 1, 2), ("a", 1, 2)], "a")
