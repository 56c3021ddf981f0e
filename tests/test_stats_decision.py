"""Decision-grade statistics (issue 14) against independent references:
GrowthBook's gbstats (its figures checked in, tests/data/gbstats_reference.json,
written by scripts/gbstats_reference.py) and statsmodels; A/A and power
simulations of the badge under daily peeking."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import samplesize_proportions_2indep_onetail

from lamed.stats import decision, frequentist, inputs, multiplicity, power, sequential, summary

REFERENCE = json.loads((Path(__file__).parent / "data" / "gbstats_reference.json").read_text(encoding="utf-8"))
GBSTATS = {"rel": 1e-9, "abs": 1e-12}
SEQUENTIAL_CASES = [case for case in REFERENCE["cases"] if "error" not in case]
ERROR_CASES = [case for case in REFERENCE["cases"] if "error" in case]


def case_id(case: dict) -> str:
    return f"{case['control']}-{case['variant']}-a{case['alpha']}-t{case['sequential_tuning_parameter']}"


# -- the sequential test equals gbstats ------------------------------------------------


def test_reference_table_names_its_source():
    assert REFERENCE["gbstats"] == "0.8.0" and REFERENCE["generator"] == "scripts/gbstats_reference.py"
    assert len(SEQUENTIAL_CASES) >= 20 and len(ERROR_CASES) >= 5
    assert any(case["p_value"] < 1e-6 for case in SEQUENTIAL_CASES) and any(c["p_value"] == 1 for c in SEQUENTIAL_CASES)


@pytest.mark.parametrize("case", SEQUENTIAL_CASES, ids=case_id)
def test_sequential_test_equals_gbstats(case):
    p_value, low, high = sequential.sequential_test(
        *case["control"], *case["variant"], case["alpha"], case["sequential_tuning_parameter"]
    )
    assert p_value == pytest.approx(case["p_value"], **GBSTATS)
    assert (low, high) == pytest.approx(case["ci"], **GBSTATS)


@pytest.mark.parametrize("case", ERROR_CASES, ids=case_id)
def test_sequential_test_is_undefined_where_gbstats_reports_an_error(case):
    assert sequential.sequential_test(*case["control"], *case["variant"]) is None
    (cs, cn), (vs, vn) = case["control"], case["variant"]
    row = summary.summarize_goal([("a", cs, cn), ("b", vs, vn)], "a").variants[1]
    assert (
        row.comparison.sequential_p_value,
        row.comparison.sequential_uplift_low,
        row.comparison.sequential_uplift_high,
    ) == (None, None, None)
    assert row.comparison.adjusted_p_value is None and not row.significant


def test_summary_rows_carry_the_gbstats_figures():
    """Three variants against one control, as the table has them."""
    rows = [("control", 480, 10_000), ("b", 560, 10_000), ("c", 470, 9_900), ("d", 530, 10_100)]
    goal_stats = summary.summarize_goal(rows, "control")
    for row in goal_stats.comparisons:
        case = next(c for c in SEQUENTIAL_CASES if c["variant"] == [row.successes, row.trials] and c["alpha"] == 0.05)
        assert row.comparison.sequential_p_value == pytest.approx(case["p_value"], **GBSTATS)
        assert [row.comparison.sequential_uplift_low, row.comparison.sequential_uplift_high] == pytest.approx(
            case["ci"], **GBSTATS
        )


def gbstats_half_width(pc: float, pv: float, n: int, alpha: float, tuning: float) -> float:
    """gbstats' eq. 9 half-width (written as gbstats writes it), n per arm."""
    variance = pv * (1 - pv) / (pc**2 * n) + pc * (1 - pc) * pv**2 / (pc**4 * n)
    total = 2 * n
    rho = np.sqrt((-2 * np.log(alpha) + np.log(-2 * np.log(alpha) + 1)) / tuning)
    s2 = variance * total
    return float(
        np.sqrt(s2)
        * np.sqrt(2 * (total * rho**2 + 1) * np.log(np.sqrt(total * rho**2 + 1) / alpha) / (total * rho) ** 2)
    )


@pytest.mark.parametrize(
    "pc, pv, mde, alpha, tuning",
    [(0.05, 0.05, 0.1, 0.05, 5000), (0.01, 0.012, 0.1, 0.05, 5000), (0.2, 0.18, 0.05, 0.05, 5000),
     (0.5, 0.55, 0.2, 0.01, 20000), (0.9, 0.91, 0.02, 0.1, 1000)],
)  # fmt: skip
def test_decision_sample_is_the_smallest_n_whose_sequence_is_within_the_mde(pc, pv, mde, alpha, tuning):
    n = power.sequential_decision_sample(pc, pv, mde, alpha, tuning)
    assert gbstats_half_width(pc, pv, n, alpha, tuning) <= mde < gbstats_half_width(pc, pv, n - 1, alpha, tuning)


def test_decision_sample_is_undefined_without_variance():
    assert power.sequential_decision_sample(0.0, 0.1) is None
    assert power.sequential_decision_sample(0.1, 1.0) is None
    assert power.sequential_decision_sample(1e-9, 1e-9, mde=1e-6) is None  # past 10^12 visitors


# -- the fixed-horizon planning figure equals statsmodels ------------------------------


@pytest.mark.parametrize("rate", [0.001, 0.01, 0.048, 0.2, 0.5, 0.8])
@pytest.mark.parametrize("mde, alpha", [(0.1, 0.05), (0.05, 0.01), (0.2, 0.1)])
def test_sample_size_per_variant_equals_statsmodels(rate, mde, alpha):
    expected = samplesize_proportions_2indep_onetail(
        diff=mde * rate, prop2=rate, power=0.8, ratio=1, alpha=alpha, alternative="two-sided"
    )
    assert power.sample_size_per_variant(rate, mde, alpha) == pytest.approx(expected, rel=1e-6, abs=1e-6)


def test_sample_size_is_null_without_a_control_rate():
    assert power.sample_size_per_variant(0.0) is None and power.sample_size_per_variant(None) is None
    assert power.sample_size_per_variant(0.95, mde=0.1) is None  # the alternative rate would pass 100%
    assert summary.summarize_goal([("a", 0, 100), ("b", 3, 100)], "a").sample_size_per_variant is None


# -- many comparisons equal statsmodels -------------------------------------------------


P_VALUE_SETS = [
    [0.01, 0.04, 0.03, 0.2],
    [0.001, 0.001, 0.5, 1.0, 0.049],  # ties and a 1
    [0.04],
    [0.3, 0.2, 0.1, 0.05, 0.025, 0.0125, 0.0],
    list(np.random.default_rng(3).uniform(size=40)),
]


@pytest.mark.parametrize("p_values", P_VALUE_SETS)
@pytest.mark.parametrize("method, reference", [("holm", "holm"), ("bh", "fdr_bh")])
def test_adjusted_p_values_equal_statsmodels(p_values, method, reference):
    expected = multipletests(p_values, alpha=0.05, method=reference)[1]
    assert multiplicity.adjust_p_values(p_values, method) == pytest.approx(list(expected), rel=1e-12, abs=1e-12)


def two_goals() -> list[summary.GoalStats]:
    """Three variants x two goals, tests fixed so that p-values are small enough to matter."""
    plan = inputs.Plan(deciding_test="fixed")
    signup = [("a", 500, 10_000), ("b", 600, 10_000), ("c", 560, 10_000), ("d", 505, 10_000)]
    purchase = [("a", 100, 10_000), ("b", 135, 10_000), ("c", 72, 10_000), ("d", 128, 10_000)]
    return [summary.summarize_goal(signup, "a", plan=plan), summary.summarize_goal(purchase, "a", plan=plan)]


@pytest.mark.parametrize("family", ["experiment", "goal"])
@pytest.mark.parametrize("method, reference", [("holm", "holm"), ("bh", "fdr_bh")])
def test_adjust_comparisons_over_variants_and_goals(family, method, reference):
    plan = inputs.Plan(deciding_test="fixed", correction=method, family=family)
    goals = two_goals()
    adjusted = summary.adjust_comparisons(goals, plan)
    raw = [[row.comparison.p_value for row in goal.comparisons] for goal in goals]
    if family == "experiment":
        flat = multipletests(raw[0] + raw[1], method=reference)[1]
        expected = [list(flat[:3]), list(flat[3:])]
    else:
        expected = [list(multipletests(p, method=reference)[1]) for p in raw]
    for goal, want in zip(adjusted, expected):
        assert [row.comparison.adjusted_p_value for row in goal.comparisons] == pytest.approx(
            want, rel=1e-12, abs=1e-12
        )
        assert [row.significant for row in goal.comparisons] == [p < 0.05 for p in want]
    called = [sum(row.significant for row in goal.comparisons) for goal in (*goals, *adjusted)]
    assert called[2] + called[3] <= called[0] + called[1]
    if method == "holm":  # c on purchase (raw p 0.032) is significant alone, not among its family
        assert goals[1].comparisons[1].significant and not adjusted[1].comparisons[1].significant


def test_an_undefined_comparison_counts_as_p_1_and_stays_undefined():
    plan = inputs.Plan(deciding_test="fixed")
    goal = summary.summarize_goal([("a", 0, 1000), ("b", 0, 1000), ("c", 30, 1000)], "a", plan=plan)
    (adjusted,) = summary.adjust_comparisons([goal], plan)
    assert adjusted.comparisons[0].comparison.adjusted_p_value is None
    expected = multipletests([1.0, goal.comparisons[1].comparison.p_value], method="holm")[1][1]
    assert adjusted.comparisons[1].comparison.adjusted_p_value == pytest.approx(expected, rel=1e-12)


# -- days remaining and the decision ----------------------------------------------------


def test_days_to_reach():
    assert power.days_to_reach(1000, [(400, 100.0), (300, 50.0)]) == 14
    assert power.days_to_reach(1000, [(1000, 0.0), (1200, 0.0)]) == 0
    assert power.days_to_reach(1000, [(999, 0.0), (1200, 10.0)]) is None
    assert power.days_to_reach(None, [(1, 1.0)]) is None


def test_summary_gives_days_remaining_from_the_pace():
    rows = [("a", 50, 1000), ("b", 60, 1000)]
    goal_stats = summary.summarize_goal(rows, "a", trials_per_day={"a": 100.0, "b": 50.0})
    row = goal_stats.comparisons[0]
    assert row.comparison.decision_sample_per_variant == power.sequential_decision_sample(0.05, 0.06)
    assert row.comparison.days_remaining == math.ceil((row.comparison.decision_sample_per_variant - 1000) / 50.0)
    assert goal_stats.days_remaining == row.comparison.days_remaining
    fixed = summary.summarize_goal(rows, "a", plan=inputs.Plan(deciding_test="fixed")).comparisons[0]
    assert (
        fixed.comparison.decision_sample_per_variant
        == fixed.sample_size_per_variant
        == power.sample_size_per_variant(0.05)
    )
    assert fixed.comparison.days_remaining is None  # no pace given


def test_the_goal_waits_only_for_its_open_comparisons():
    pace = {"control": 250.0, "cheap": 250.0, "premium": 250.0}
    rows = [("control", 100, 1000), ("cheap", 200, 1000), ("premium", 95, 1000)]
    goal = summary.summarize_goal(rows, "control", trials_per_day=pace)
    cheap, premium = goal.comparisons
    assert (
        cheap.significant and cheap.comparison.days_remaining > premium.comparison.days_remaining > 0
    )  # cheap concluded already
    assert (goal.days_remaining, goal.decision_sample_per_variant) == (
        premium.comparison.days_remaining,
        premium.comparison.decision_sample_per_variant,
    )
    settled = summary.summarize_goal([("control", 100, 1000), ("cheap", 200, 1000)], "control", trials_per_day=pace)
    assert (settled.days_remaining, settled.decision_sample_per_variant) == (0, 1000)


def decision_on(rows, **plan):
    plan = inputs.Plan(**plan)
    (goal,) = summary.adjust_comparisons([summary.summarize_goal(rows, rows[0][0], plan=plan)], plan)
    return decision.decide(goal, srm_mismatch=False, plan=plan)


def test_decisions():
    ship = decision_on([("a", 500, 10_000), ("b", 700, 10_000)])
    assert (ship.kind, ship.variant) == (decision.SHIP, "b")
    assert ship.interval == pytest.approx(SEQUENTIAL_CASES[15]["ci"], **GBSTATS)
    keep = decision_on([("a", 2000, 40_000), ("b", 1800, 40_000)])
    assert (keep.kind, keep.variant) == (decision.KEEP_CONTROL, "b")
    same = decision_on([("a", 100_000, 1_000_000), ("b", 100_100, 1_000_000)], mde=0.05)
    assert same.kind == decision.NO_DIFFERENCE
    running = decision_on([("a", 480, 10_000), ("b", 530, 10_100)])
    assert running.kind == decision.KEEP_RUNNING
    assert decision_on([("a", 5, 100), ("b", 9, 100)]).kind == decision.NOT_ENOUGH_DATA
    assert decision_on([("a", 50, 1000), ("b", 0, 1000)]).kind == decision.NOT_ENOUGH_DATA  # the test is undefined
    assert decision.decide(None, srm_mismatch=False).kind == decision.NOT_ENOUGH_DATA
    goal = summary.summarize_goal([("a", 500, 10_000), ("b", 700, 10_000)], "a")
    assert decision.decide(goal, srm_mismatch=True).kind == decision.CHECK_SPLIT
    # The fixed test calls b better where the sequential test keeps running.
    assert decision_on([("a", 480, 10_000), ("b", 560, 10_000)]).kind == decision.KEEP_RUNNING
    assert decision_on([("a", 480, 10_000), ("b", 560, 10_000)], deciding_test="fixed").kind == decision.SHIP


# -- simulations: daily peeking ---------------------------------------------------------

LOOKS = range(200, 10_001, 200)  # visitors per variant at each look
SIMULATIONS = 2000
SIMULATION_ERROR = 2 * math.sqrt(0.05 * 0.95 / SIMULATIONS)  # two standard errors at 5%


def peeking(rate: float, uplift: float, seed: int) -> dict:
    """Share of experiments ever called significant by each badge, looked at
    after every 200 visitors per variant; and at the last look."""
    rng = np.random.default_rng(seed)
    control = rng.binomial(200, rate, size=(SIMULATIONS, len(LOOKS))).cumsum(axis=1).tolist()
    variant = rng.binomial(200, rate * (1 + uplift), size=(SIMULATIONS, len(LOOKS))).cumsum(axis=1).tolist()
    ever = {"sequential": 0, "fixed": 0}
    at_end = {"sequential": 0, "fixed": 0}
    for experiment in range(SIMULATIONS):
        called = {"sequential": False, "fixed": False}
        for look, n in enumerate(LOOKS):
            arms = (control[experiment][look], n, variant[experiment][look], n)
            if experiment < 5 and look % 10 == 0:  # the fast path below is the dashboard's own rule
                assert_badges_agree(arms, sequential_badge(arms), fixed_badge(arms))
            called["sequential"] |= sequential_badge(arms)
            called["fixed"] |= fixed_badge(arms)
        for test in called:
            ever[test] += called[test]
        at_end["sequential"] += sequential_badge(arms)
        at_end["fixed"] += fixed_badge(arms)
    return {
        "ever": {test: count / SIMULATIONS for test, count in ever.items()},
        "at_end": {test: count / SIMULATIONS for test, count in at_end.items()},
    }


def sequential_badge(arms) -> bool:
    result = sequential.sequential_test(*arms)
    return sequential.sequential_enough_data(*arms) and result is not None and result[0] < 0.05


def fixed_badge(arms) -> bool:
    result = frequentist.two_proportion_z_test(*arms)
    return frequentist.enough_data(*arms) and result is not None and result[1] < 0.05


def assert_badges_agree(arms, sequential: bool, fixed: bool) -> None:
    cs, n, vs, _ = arms
    rows = [("A", cs, n), ("B", vs, n)]
    assert summary.summarize_goal(rows, "A").variants[1].significant is sequential
    assert summary.summarize_goal(rows, "A", plan=inputs.Plan(deciding_test="fixed")).variants[1].significant is fixed


@pytest.mark.parametrize("rate", [0.01, 0.05, 0.20])
def test_aa_experiments_looked_at_daily_are_rarely_called(rate):
    result = peeking(rate, uplift=0.0, seed=int(rate * 1000))
    ever, at_end = result["ever"], result["at_end"]
    print(f"A/A at {rate:.0%}: ever significant, always-valid badge {ever['sequential']:.2%}, "
          f"fixed-horizon badge {ever['fixed']:.2%} (at the last look only: {at_end['fixed']:.2%})")  # fmt: skip
    assert result["ever"]["sequential"] <= 0.05 + SIMULATION_ERROR
    # The old badge under the same peeking: the problem this default solves.
    assert result["ever"]["fixed"] > 0.15


def test_power_at_a_true_uplift_of_20_percent():
    result = peeking(0.05, uplift=0.20, seed=20)
    print(f"power at 10,000 per variant (5%, +20%): always-valid {result['ever']['sequential']:.2%} "
          f"(ever called), fixed-horizon at the last look {result['at_end']['fixed']:.2%}")  # fmt: skip
    assert result["ever"]["sequential"] > 0.3
    assert result["at_end"]["fixed"] > 0.75


def test_the_experiment_waits_for_its_furthest_goal():
    ship = decision.Decision(decision.SHIP, "signup", "b", 0.2, (0.1, 0.3))
    running = decision.Decision(decision.KEEP_RUNNING, "purchase", days_remaining=3)
    longer = decision.Decision(decision.KEEP_RUNNING, "refund", days_remaining=9)
    unknown = decision.Decision(decision.KEEP_RUNNING, "refund")
    same = decision.Decision(decision.NO_DIFFERENCE, "purchase")
    assert decision.experiment_decision([ship]) == ship
    assert decision.experiment_decision([ship, running, longer]) == longer
    assert decision.experiment_decision([running, unknown]) == unknown  # no estimate: the longest wait
    assert decision.experiment_decision([ship, decision.Decision(decision.NOT_ENOUGH_DATA, "x"), running]).goal == "x"
    assert decision.experiment_decision([same, ship]) == ship  # every goal decided: the one that ships
    assert decision.experiment_decision([same]) == same
    assert decision.experiment_decision([]).kind == decision.NOT_ENOUGH_DATA
    assert set(decision.DECISION_KINDS) >= set(decision.CONCLUSIONS)
