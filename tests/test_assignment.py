"""Pure assignment: weights (chi-square over 100,000 users), stickiness across
processes, minimal movement on a weight change, coverage, targeting, forced
variants and lifecycle."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter

import pytest
from conftest import ROOT
from scipy.stats import chisquare

from lamed.core.assignment import assign, in_coverage, rule_matches, stable_hash, weighted_variant
from lamed.core.definitions import Rule, definition_from_dict

USERS = [f"user-{index}" for index in range(100_000)]


def running(**fields) -> object:
    document = {"variants": {"A": 50, "B": 30, "C": 20}, "status": "running", **fields}
    return definition_from_dict("checkout", document)


def test_hash_is_the_documented_one():
    """Pinned value: a change here would reshuffle every user of every experiment."""
    assert stable_hash("lamed-assign-v1:variant", "seed", "user-1", "A") == 12882396404375477045


def test_split_over_100000_users_matches_weights():
    weights = {"A": 50, "B": 30, "C": 20}
    counts = Counter(weighted_variant("checkout", user, weights) for user in USERS)
    observed = [counts[name] for name in weights]
    expected = [len(USERS) * weight / 100 for weight in weights.values()]
    statistic, p_value = chisquare(observed, expected)
    print(f"observed {observed} expected {expected} chi2={statistic:.2f} p={p_value:.3f}")
    assert p_value > 0.001


def test_uneven_weights_and_zero_weight():
    weights = {"A": 1, "B": 9, "never": 0}
    counts = Counter(weighted_variant("s", user, weights) for user in USERS[:50_000])
    assert counts["never"] == 0
    assert chisquare([counts["A"], counts["B"]], [5_000, 45_000]).pvalue > 0.001


def test_same_users_get_same_variants_in_another_process():
    sample = USERS[:5000]
    here = [assign(running(), user).variant for user in sample]
    script = (
        "import json, sys\n"
        "from lamed.core.assignment import assign\n"
        "from lamed.core.definitions import definition_from_dict\n"
        "d = definition_from_dict('checkout', {'variants': {'A': 50, 'B': 30, 'C': 20}, 'status': 'running'})\n"
        "print(json.dumps([assign(d, f'user-{i}').variant for i in range(5000)]))\n"
    )
    # A fresh interpreter with a different hash seed: nothing may depend on hash().
    env = {"PYTHONHASHSEED": "12345", "PATH": "/usr/bin:/bin"}
    command = [sys.executable, "-c", script]
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT, check=True)
    assert json.loads(result.stdout) == here


def test_variant_order_does_not_matter():
    forward = {"A": 50, "B": 30, "C": 20}
    backward = dict(reversed(list(forward.items())))
    assert all(weighted_variant("s", u, forward) == weighted_variant("s", u, backward) for u in USERS[:5000])


def test_raising_one_weight_moves_only_the_needed_users_into_it():
    before = {"A": 40, "B": 30, "C": 30}
    after = {"A": 40, "B": 30, "C": 50}
    sample = USERS[:50_000]
    moves = Counter((weighted_variant("s", u, before), weighted_variant("s", u, after)) for u in sample)
    moved = {pair: count for pair, count in moves.items() if pair[0] != pair[1]}
    assert set(moved) <= {("A", "C"), ("B", "C")}, moved  # nobody swaps between A and B, nobody leaves C
    minimum_share = 50 / 120 - 30 / 100  # C's share grows from 30 % to 41.7 %
    moved_share = sum(moved.values()) / len(sample)
    print(f"moved {moved_share:.4f} of users; minimum possible {minimum_share:.4f}")
    assert abs(moved_share - minimum_share) < 0.01


def test_lowering_one_weight_moves_only_its_users_out():
    before = {"A": 40, "B": 30, "C": 30}
    after = {"A": 10, "B": 30, "C": 30}
    moves = {(weighted_variant("s", u, before), weighted_variant("s", u, after)) for u in USERS[:20_000]}
    assert {pair for pair in moves if pair[0] != pair[1]} <= {("A", "B"), ("A", "C")}


def test_coverage_share_and_monotonic_growth():
    sample = USERS[:40_000]
    at_30 = {u for u in sample if in_coverage("s", u, 30)}
    at_60 = {u for u in sample if in_coverage("s", u, 60)}
    assert abs(len(at_30) / len(sample) - 0.30) < 0.01
    assert abs(len(at_60) / len(sample) - 0.60) < 0.01
    assert at_30 <= at_60  # raising coverage only lets users in
    assert not any(in_coverage("s", u, 0) for u in sample[:2000])
    assert all(in_coverage("s", u, 100) for u in sample[:2000])


def test_users_outside_coverage_get_control_and_do_not_take_part():
    definition = running(coverage=25)
    results = [assign(definition, user) for user in USERS[:8000]]
    outside = [r for r in results if r.reason == "coverage"]
    assert abs(len(outside) / len(results) - 0.75) < 0.02
    assert all(r.variant == "A" and not r.in_experiment for r in outside)
    assert all(r.in_experiment and r.reason == "weights" for r in results if r.reason != "coverage")


def test_coverage_growth_keeps_variants_of_users_already_in():
    small, large = running(coverage=20), running(coverage=80)
    for user in USERS[:5000]:
        first = assign(small, user)
        if first.in_experiment:
            assert assign(large, user).variant == first.variant


@pytest.mark.parametrize(
    "op, value, attributes, expected",
    [
        ("eq", "vip", {"grade": "vip"}, True),
        ("eq", "vip", {"grade": "basic"}, False),
        ("eq", "vip", {}, False),
        ("neq", "vip", {}, True),
        ("neq", "vip", {"grade": "vip"}, False),
        ("in", ["vip", "gold"], {"grade": "gold"}, True),
        ("in", ["vip", "gold"], {"grade": "basic"}, False),
        ("not_in", ["vip", "gold"], {"grade": "basic"}, True),
        ("not_in", ["vip", "gold"], {}, True),
        ("not_in", ["vip", "gold"], {"grade": "vip"}, False),
        ("gte", 18, {"grade": "18"}, True),  # query strings carry numbers as text
        ("gte", 18, {"grade": 17.5}, False),
        ("lt", 18, {"grade": "abc"}, False),
        ("lt", 18, {}, False),
        ("gt", 0, {"grade": True}, False),  # a boolean is not a number
        ("lte", 3, {"grade": 3}, True),
        ("eq", 3, {"grade": "3.0"}, True),
        ("eq", True, {"grade": "true"}, True),
        ("eq", True, {"grade": 1}, False),
    ],
)
def test_rule_operators(op, value, attributes, expected):
    assert rule_matches(Rule("grade", op, value, "A"), attributes) is expected


def test_first_matching_rule_pins_or_excludes():
    definition = running(
        rules=[
            {"attribute": "grade", "op": "eq", "value": "vip", "variant": "A"},
            {"attribute": "country", "op": "not_in", "value": ["DE", "FR"], "exclude": True},
            {"attribute": "country", "op": "eq", "value": "DE", "variant": "C"},
        ]
    )
    vip = assign(definition, "u1", {"grade": "vip", "country": "US"})
    assert (vip.variant, vip.reason, vip.rule, vip.in_experiment) == ("A", "rule", 0, True)
    excluded = assign(definition, "u1", {"country": "US"})
    assert (excluded.variant, excluded.reason, excluded.rule, excluded.in_experiment) == ("A", "excluded", 1, False)
    german = assign(definition, "u1", {"country": "DE"})
    assert (german.variant, german.reason, german.rule) == ("C", "rule", 2)
    french = assign(definition, "u1", {"country": "FR"})
    assert french.reason == "weights" and french.in_experiment


def test_grade_routing_example_from_the_issue():
    """``grade=vip`` gets A, everyone else B."""
    definition = running(
        variants={"A": 0, "B": 1}, rules=[{"attribute": "grade", "op": "eq", "value": "vip", "variant": "A"}]
    )
    assert {assign(definition, u, {"grade": "vip"}).variant for u in USERS[:500]} == {"A"}
    assert {assign(definition, u, {"grade": "basic"}).variant for u in USERS[:500]} == {"B"}


def test_forced_variants_win_over_rules_in_draft_and_running_but_not_when_paused():
    rules = [{"attribute": "grade", "op": "eq", "value": "vip", "variant": "A"}]
    for status in ("running", "draft"):
        definition = running(forced={"qa-1": "C"}, rules=rules, status=status)
        result = assign(definition, "qa-1", {"grade": "vip"})
        assert (result.variant, result.reason, result.in_experiment) == ("C", "forced", False)
    assert assign(running(forced={"qa-1": "C"}, status="paused"), "qa-1").variant == "A"


def test_lifecycle_draft_paused_stopped():
    for user in USERS[:300]:
        assert assign(running(status="draft"), user).to_dict() == {
            "variant": "A",
            "reason": "draft",
            "in_experiment": False,
        }
        assert assign(running(status="paused", control="B"), user).variant == "B"
        stopped = assign(running(status="stopped", winner="C"), user, {"grade": "vip"})
        assert (stopped.variant, stopped.reason, stopped.in_experiment) == ("C", "stopped", False)


def test_seed_reshuffles_users():
    same = sum(
        weighted_variant("seed-1", u, {"A": 1, "B": 1}) == weighted_variant("seed-2", u, {"A": 1, "B": 1})
        for u in USERS[:10_000]
    )
    assert 0.45 < same / 10_000 < 0.55
