"""The statistics of a mean (lamed.stats.means, issue 23) against gbstats
0.8.0's own figures (tests/data/gbstats_reference.json, ``mean_cases``,
written by scripts/gbstats_reference.py) to 1e-9, Student's t against scipy,
and the planning figures against statsmodels."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest
import scipy.stats as sps

from lamed.stats.inputs import Plan
from lamed.stats.means import (
    MeanArm,
    mean_interval,
    mean_sample_size_per_variant,
    mean_t_test,
    sequential_mean_decision_sample,
    sequential_mean_test,
    summarize_value_goal,
)
from lamed.stats.sequential import half_width, sequential_rho
from lamed.stats.special import student_t_quantile, student_t_two_sided_p

REFERENCE = json.loads((Path(__file__).parent / "data" / "gbstats_reference.json").read_text())
MEAN_CASES = REFERENCE["mean_cases"]
GBSTATS = {"rel": 1e-9, "abs": 1e-12}


def test_the_table_is_gbstats_0_8_0_with_enough_cases():
    assert REFERENCE["gbstats"] == "0.8.0"
    defined = [case for case in MEAN_CASES if "error" not in case]
    assert len(defined) >= 12
    abouts = " ".join(case["about"] for case in MEAN_CASES)
    for kind in ("unequal split", "zero values", "refunds", "large values", "small samples"):
        assert kind in abouts


@pytest.mark.parametrize("case", MEAN_CASES, ids=[case["about"] for case in MEAN_CASES])
def test_mean_tests_equal_gbstats(case):
    control, variant = MeanArm(*case["control"]), MeanArm(*case["variant"])
    alpha, tuning = case["alpha"], case["sequential_tuning_parameter"]
    fixed = mean_t_test(control, variant, alpha)
    sequential = sequential_mean_test(control, variant, alpha, tuning)
    if "error" in case:  # gbstats reports an error: Lamed calls the tests undefined
        assert fixed is None and sequential is None
        return
    assert fixed.uplift == pytest.approx(case["uplift"], **GBSTATS)
    assert [fixed.low, fixed.high] == pytest.approx(case["fixed"]["ci"], **GBSTATS)
    assert fixed.p_value == pytest.approx(case["fixed"]["p_value"], **GBSTATS)
    assert [sequential.low, sequential.high] == pytest.approx(case["sequential"]["ci"], **GBSTATS)
    assert sequential.p_value == pytest.approx(case["sequential"]["p_value"], **GBSTATS)


@pytest.mark.parametrize("dof", [1, 2.5, 7, 30, 123.4, 5000, 2e5, 2e6])
def test_student_t_equals_scipy(dof):
    for q in (0.9, 0.95, 0.975, 0.995, 0.9995):
        assert student_t_quantile(q, dof) == pytest.approx(sps.t.ppf(q, dof), rel=1e-10)
    for t in (0.001, 0.3, 1.0, 1.96, 2.5, 4.0, 8.0):
        assert student_t_two_sided_p(t, dof) == pytest.approx(2 * sps.t.sf(t, dof), rel=1e-9, abs=1e-15)


def test_the_value_per_participant_interval_is_the_t_interval():
    values = [0.0] * 80 + [random.Random(n).uniform(5, 50) for n in range(20)]
    arm = MeanArm(len(values), sum(values), sum(v * v for v in values), 20)
    low, high = mean_interval(arm)
    expected = sps.t.interval(0.95, len(values) - 1, loc=sum(values) / len(values), scale=sps.sem(values))
    assert (low, high) == pytest.approx(expected, rel=1e-9)
    assert mean_interval(MeanArm(1, 5.0, 25.0, 1)) is None


def test_the_fixed_sample_size_of_a_mean_uses_the_observed_variance():
    """statsmodels' normal-approximation power for two independent samples,
    on the one tail of the two-sided test that the effect lies in (as the
    rates' sample size, lamed.stats.power)."""
    from statsmodels.stats.power import NormalIndPower

    arm = MeanArm(1000, 2000.0, 2000.0 * 2 + 999 * 9.0 + 4000.0, 50)
    effect = 0.10 * arm.mean / math.sqrt(arm.variance)
    expected = NormalIndPower().solve_power(effect_size=effect, alpha=0.025, power=0.8, ratio=1.0, alternative="larger")
    assert mean_sample_size_per_variant(arm, 0.10, 0.05) == pytest.approx(expected, rel=1e-6)


def test_the_sequential_decision_sample_is_where_the_half_width_reaches_the_mde():
    control, variant = MeanArm(1000, 2000.0, 30000.0, 60), MeanArm(1000, 2100.0, 32000.0, 65)
    n = sequential_mean_decision_sample(control, variant, 0.10, 0.05, 5000)
    rho = sequential_rho(0.05, 5000)
    unit = variant.variance / control.mean**2 + control.variance * variant.mean**2 / control.mean**4

    def width(per_arm: int) -> float:
        return half_width(unit * 2.0, 2.0 * per_arm, 0.05, rho)

    assert width(n) <= 0.10 < width(n - 1)


def test_a_value_goal_summary_decides_like_any_goal():
    from lamed.stats.decision import SHIP, decide
    from lamed.stats.summary import adjust_comparisons

    draw = random.Random(7)
    control_values = [draw.lognormvariate(3, 0.5) if draw.random() < 0.05 else 0.0 for _ in range(40000)]
    variant_values = [draw.lognormvariate(3, 0.5) if draw.random() < 0.08 else 0.0 for _ in range(40000)]

    def arm_of(values: list) -> MeanArm:
        return MeanArm(len(values), sum(values), sum(v * v for v in values), sum(1 for v in values if v))

    plan = Plan()
    goal = summarize_value_goal(
        [("control", arm_of(control_values)), ("B", arm_of(variant_values))], "control", plan=plan
    )
    (adjusted,) = adjust_comparisons([goal], plan)
    row = adjusted.variants[1]
    assert row.significant and row.comparison.adjusted_p_value < 0.05
    decision = decide(adjusted, False, plan, "revenue")
    assert decision.kind == SHIP and decision.variant == "B"
    assert adjusted.variants[0].value_per_participant == pytest.approx(sum(control_values) / 40000)


def test_the_fixed_horizon_test_decides_a_value_goal_when_planned():
    case = next(case for case in MEAN_CASES if case["about"] == "a worse variant")
    control, variant = MeanArm(*case["control"], 200), MeanArm(*case["variant"], 150)
    plan = Plan(deciding_test="fixed")
    goal = summarize_value_goal([("control", control), ("B", variant)], "control", plan=plan)
    comparison = goal.variants[1].comparison
    assert comparison.deciding_test == "fixed"
    assert comparison.adjusted_p_value == pytest.approx(case["fixed"]["p_value"], **GBSTATS)
    assert comparison.deciding_interval == pytest.approx(case["fixed"]["ci"], **GBSTATS)
    assert comparison.significant and comparison.uplift < 0
    assert comparison.decision_sample_per_variant == mean_sample_size_per_variant(control, plan.mde, plan.alpha)
