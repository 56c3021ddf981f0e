"""Writes tests/data/gbstats_reference.json: GrowthBook's own sequential
figures for the cases that tests/test_stats.py compares Lamed against.

gbstats pins old numpy and pandas and does not install on every Python that
Lamed supports, so it runs here, in a virtualenv of its own, and the tests
read the table it writes:

    python3 -m venv /tmp/gbstats-venv
    /tmp/gbstats-venv/bin/pip install gbstats==0.8.0
    /tmp/gbstats-venv/bin/python scripts/gbstats_reference.py

The mean cases (``mean_cases``, issue 23) compare two value goals: gbstats'
``SampleMeanStatistic(n, sum, sum_squares)`` arms with ``TwoSidedTTest``
(fixed horizon) and ``SequentialTwoSidedTTest``, relative difference; their
inputs are drawn here from seeded random revenue-like data and stored with
the figures.

Each case is one control/variant comparison of proportions: gbstats'
``SequentialTwoSidedTTest`` on two ``ProportionStatistic`` arms, relative
difference. A case where gbstats reports an error (an arm without variance,
a control at 0) is kept with its message, so the tests check that Lamed calls
it undefined too.
"""

from __future__ import annotations

import json
import random
import sys
from importlib.metadata import version
from pathlib import Path

from gbstats.frequentist.tests import FrequentistConfig, SequentialConfig, SequentialTwoSidedTTest, TwoSidedTTest
from gbstats.models.statistics import ProportionStatistic, SampleMeanStatistic

OUTPUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "gbstats_reference.json"

# (control conversions, control trials, variant conversions, variant trials, alpha, tuning parameter)
CASES = [
    (48, 1000, 63, 1000, 0.05, 5000),
    (120, 2400, 150, 2500, 0.05, 5000),  # unequal split
    (30, 30000, 45, 29000, 0.05, 5000),  # low rate
    (500, 10000, 600, 10000, 0.05, 5000),
    (500, 10000, 505, 10000, 0.05, 5000),  # almost no difference: p capped at 1
    (480, 10000, 560, 10000, 0.05, 5000),  # three variants against one control
    (480, 10000, 470, 9900, 0.05, 5000),
    (480, 10000, 530, 10100, 0.05, 5000),
    (40, 400, 80, 400, 0.05, 5000),
    (12, 400, 9, 400, 0.05, 5000),  # a second goal of the same experiment
    (2, 7, 5, 9, 0.05, 5000),  # tiny samples
    (1, 2, 1, 3, 0.05, 5000),
    (100_000, 1_000_000, 101_000, 1_000_000, 0.05, 5000),  # large counts
    (3, 1_000_000, 7, 1_000_000, 0.05, 5000),
    (999, 1000, 998, 1000, 0.05, 5000),  # rates near 1
    (500, 10000, 700, 10000, 0.05, 5000),  # clear differences: small p-values
    (4000, 50000, 4400, 50000, 0.05, 5000),
    (100_000, 1_000_000, 102_000, 1_000_000, 0.05, 5000),
    (2000, 40000, 1800, 40000, 0.05, 5000),  # a worse variant
    (10_000, 100_000, 20_000, 100_000, 0.05, 5000),  # e-value past the float range: p is 0
    (48, 1000, 63, 1000, 0.01, 5000),  # other alpha
    (48, 1000, 63, 1000, 0.10, 1000),  # other tuning parameter
    (500, 10000, 600, 10000, 0.05, 20000),
    (0, 1000, 5, 1000, 0.05, 5000),  # errors: control at 0
    (10, 1000, 0, 1000, 0.05, 5000),  # variant without conversions
    (10, 1000, 1000, 1000, 0.05, 5000),  # variant converting everyone
    (1000, 1000, 990, 1000, 0.05, 5000),  # control converting everyone
    (0, 0, 0, 0, 0.05, 5000),  # no trials at all
    (10, 100, 0, 0, 0.05, 5000),  # variant without trials
]


def reference(cs: int, cn: int, vs: int, vn: int, alpha: float, tuning: float) -> dict:
    config = SequentialConfig(alpha=alpha, sequential_tuning_parameter=tuning, difference_type="relative")
    test = SequentialTwoSidedTTest(ProportionStatistic(n=cn, sum=cs), ProportionStatistic(n=vn, sum=vs), config)
    result = test.compute_result()
    case = {"control": [cs, cn], "variant": [vs, vn], "alpha": alpha, "sequential_tuning_parameter": tuning}
    if result.error_message:
        return {**case, "error": result.error_message}
    return {**case, "uplift": result.expected, "ci": [float(x) for x in result.ci], "p_value": float(result.p_value)}


def revenue(seed: int, participants: int, rate: float, mean: float, refund_rate: float = 0.0) -> list:
    """Per participant: 0 (no purchase) or one order's value, lognormal around
    ``mean`` with cents, some of them refunds (negative)."""
    draw = random.Random(seed)
    values = []
    for _ in range(participants):
        if draw.random() >= rate:
            values.append(0.0)
            continue
        value = round(draw.lognormvariate(0.0, 0.8) * mean, 2)
        values.append(-value if draw.random() < refund_rate else value)
    return values


def arm_sums(values: list) -> list:
    return [len(values), sum(values), sum(v * v for v in values)]


# (control arm [n, sum, sum of squares], variant arm, alpha, tuning parameter, what the case is about)
MEAN_CASES = [
    (arm_sums(revenue(1, 1000, 0.05, 40.0)), arm_sums(revenue(2, 1000, 0.06, 42.0)), 0.05, 5000, "equal split"),
    (arm_sums(revenue(3, 4000, 0.05, 40.0)), arm_sums(revenue(4, 1000, 0.05, 40.0)), 0.05, 5000, "unequal split"),
    (arm_sums(revenue(5, 20000, 0.03, 25.0)), arm_sums(revenue(6, 20000, 0.036, 25.0)), 0.05, 5000, "larger"),
    (arm_sums(revenue(7, 5000, 0.1, 60.0, 0.1)), arm_sums(revenue(8, 5000, 0.1, 55.0, 0.1)), 0.05, 5000, "refunds"),
    (arm_sums(revenue(9, 3000, 0.02, 2e6)), arm_sums(revenue(10, 3000, 0.02, 2.4e6)), 0.05, 5000, "large values"),
    (arm_sums(revenue(11, 12, 0.5, 30.0)), arm_sums(revenue(12, 9, 0.5, 30.0)), 0.05, 5000, "small samples"),
    (arm_sums([0.0] * 50 + [10.0] * 3), arm_sums([0.0] * 40 + [12.5, 7.5, 20.0]), 0.05, 5000, "mostly zero values"),
    (arm_sums([19.99] * 40 + [0.0] * 960), arm_sums([19.99] * 70 + [0.0] * 930), 0.05, 5000, "one price"),
    (arm_sums(revenue(13, 100000, 0.02, 35.0)), arm_sums(revenue(14, 100000, 0.021, 35.0)), 0.05, 5000, "100k"),
    (arm_sums(revenue(15, 2000, 0.08, 12.0)), arm_sums(revenue(16, 2100, 0.05, 12.0)), 0.05, 5000, "a worse variant"),
    (arm_sums(revenue(17, 1000, 0.05, 40.0)), arm_sums(revenue(18, 1000, 0.06, 42.0)), 0.01, 5000, "alpha 0.01"),
    (arm_sums(revenue(19, 1000, 0.05, 40.0)), arm_sums(revenue(20, 1000, 0.06, 42.0)), 0.10, 1000, "tuning 1000"),
    (arm_sums(revenue(21, 50000, 0.2, 80.0)), arm_sums(revenue(22, 50000, 0.3, 80.0)), 0.05, 5000, "p near 0"),
    (arm_sums(revenue(23, 800, 0.1, 50.0, 0.5)), arm_sums(revenue(24, 800, 0.1, 50.0, 0.5)), 0.05, 5000,
     "mean near 0: refunds as many as sales"),
    ([100, 0.0, 0.0], arm_sums(revenue(25, 100, 0.1, 10.0)), 0.05, 5000, "error: control without value"),
    (arm_sums(revenue(26, 100, 0.1, 10.0)), [100, 0.0, 0.0], 0.05, 5000, "error: variant without variance"),
    ([1, 5.0, 25.0], [1, 7.0, 49.0], 0.05, 5000, "error: one participant each"),
]  # fmt: skip


def mean_reference(control: list, variant: list, alpha: float, tuning: float, about: str) -> dict:
    stats = [SampleMeanStatistic(n=n, sum=total, sum_squares=squares) for n, total, squares in (control, variant)]
    fixed = TwoSidedTTest(*stats, FrequentistConfig(alpha=alpha, difference_type="relative")).compute_result()
    sequential_config = SequentialConfig(alpha=alpha, sequential_tuning_parameter=tuning, difference_type="relative")
    sequential = SequentialTwoSidedTTest(*stats, sequential_config).compute_result()
    case = {"about": about, "control": control, "variant": variant, "alpha": alpha}
    case["sequential_tuning_parameter"] = tuning
    if fixed.error_message or sequential.error_message:
        return {**case, "error": fixed.error_message or sequential.error_message}
    return {
        **case,
        "uplift": float(fixed.expected),
        "fixed": {"ci": [float(x) for x in fixed.ci], "p_value": float(fixed.p_value)},
        "sequential": {"ci": [float(x) for x in sequential.ci], "p_value": float(sequential.p_value)},
    }


def main() -> None:
    table = {
        "generator": "scripts/gbstats_reference.py",
        "gbstats": version("gbstats"),
        "numpy": version("numpy"),
        "pandas": version("pandas"),
        "python": sys.version.split()[0],
        "test": "gbstats.frequentist.tests.SequentialTwoSidedTTest, ProportionStatistic arms, relative difference",
        "cases": [reference(*case) for case in CASES],
        "mean_test": "gbstats TwoSidedTTest and SequentialTwoSidedTTest, SampleMeanStatistic arms, relative difference",
        "mean_cases": [mean_reference(*case) for case in MEAN_CASES],
    }
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    cases = ",\n  ".join(json.dumps(case) for case in table.pop("cases"))
    mean_cases = ",\n  ".join(json.dumps(case) for case in table.pop("mean_cases"))
    header = json.dumps(table, indent=1)[:-2]  # one case per line keeps the diffs readable
    OUTPUT.write_text(
        f'{header},\n "cases": [\n  {cases}\n ],\n "mean_cases": [\n  {mean_cases}\n ]\n}}\n', encoding="utf-8"
    )
    print(f"wrote {len(CASES)} + {len(MEAN_CASES)} cases from gbstats {table['gbstats']} to {OUTPUT}")


if __name__ == "__main__":
    main()
