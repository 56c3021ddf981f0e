"""Writes tests/data/gbstats_reference.json: GrowthBook's own sequential
figures for the cases that tests/test_stats.py compares Lamed against.

gbstats pins old numpy and pandas and does not install on every Python that
Lamed supports, so it runs here, in a virtualenv of its own, and the tests
read the table it writes:

    python3 -m venv /tmp/gbstats-venv
    /tmp/gbstats-venv/bin/pip install gbstats==0.8.0
    /tmp/gbstats-venv/bin/python scripts/gbstats_reference.py

Each case is one control/variant comparison of proportions: gbstats'
``SequentialTwoSidedTTest`` on two ``ProportionStatistic`` arms, relative
difference. A case where gbstats reports an error (an arm without variance,
a control at 0) is kept with its message, so the tests check that Lamed calls
it undefined too.
"""

from __future__ import annotations

import json
import sys
from importlib.metadata import version
from pathlib import Path

from gbstats.frequentist.tests import SequentialConfig, SequentialTwoSidedTTest
from gbstats.models.statistics import ProportionStatistic

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


def main() -> None:
    table = {
        "generator": "scripts/gbstats_reference.py",
        "gbstats": version("gbstats"),
        "numpy": version("numpy"),
        "pandas": version("pandas"),
        "python": sys.version.split()[0],
        "test": "gbstats.frequentist.tests.SequentialTwoSidedTTest, ProportionStatistic arms, relative difference",
        "cases": [reference(*case) for case in CASES],
    }
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    cases = ",\n  ".join(json.dumps(case) for case in table.pop("cases"))
    header = json.dumps(table, indent=1)[:-2]  # one case per line keeps the diffs readable
    OUTPUT.write_text(f'{header},\n "cases": [\n  {cases}\n ]\n}}\n', encoding="utf-8")
    print(f"wrote {len(CASES)} cases from gbstats {table['gbstats']} to {OUTPUT}")


if __name__ == "__main__":
    main()
