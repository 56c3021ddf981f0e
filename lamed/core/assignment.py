"""Deterministic sticky assignment: targeting rules, coverage and weights.

Pure functions over a :class:`~lamed.core.definitions.Definition`; no Redis, no HTTP.

The hash (stable across machines, processes and versions)
    ``h(domain, seed, user_id[, variant])`` is the first 8 bytes of
    ``blake2b(digest_size=8)`` over the parts, each written as a 4-byte
    big-endian length followed by its UTF-8 bytes, read as a big-endian
    integer. ``domain`` is ``lamed-assign-v1:coverage`` or
    ``lamed-assign-v1:variant``; ``seed`` defaults to the experiment's name.

Coverage
    The user is in the experiment when ``h(coverage, seed, user) % 10000`` is
    below ``coverage * 100`` (coverage is a percentage with two decimals).
    Raising coverage only lets users in; lowering it only lets users out.

Weights: weighted rendezvous hashing
    Each variant with weight ``w > 0`` gets the score ``-ln(u) / w`` where
    ``u = (h(variant, seed, user, name) + 0.5) / 2**64`` lies in (0, 1); the
    lowest score wins. ``-ln(u)`` is an exponential variable, so the winner is
    variant ``v`` with probability exactly ``w_v / sum(w)``. Each variant's
    score depends only on its own weight, so changing one weight moves users
    only into that variant (raised) or only out of it (lowered): exactly the
    share that has to move and no user swaps between two other variants.
    Adding a variant takes users proportionally from all others; removing one
    redistributes only its users. Order of variants in the definition is
    irrelevant. (A line of 10,000 buckets cut into contiguous ranges would
    shift every range after the changed one and move users between variants
    whose weights did not change.)
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any, Mapping, Optional

from lamed.core.lifecycle import DRAFT, PAUSED, STOPPED

HASH_VERSION = "lamed-assign-v1"
COVERAGE_BUCKETS = 10_000
_TWO_POW_64 = float(2**64)

# Reasons reported by /assign (and the lifecycle statuses DRAFT, PAUSED, STOPPED).
FORCED = "forced"
RULE = "rule"
EXCLUDED = "excluded"
COVERAGE = "coverage"
WEIGHTS = "weights"


@dataclass(frozen=True)
class Assignment:
    variant: str
    reason: str
    # True when the user takes part (is counted): chosen by weights or a rule.
    in_experiment: bool
    rule: Optional[int] = None

    def to_dict(self) -> dict[str, Any]:
        body = {"variant": self.variant, "reason": self.reason, "in_experiment": self.in_experiment}
        if self.rule is not None:
            body["rule"] = self.rule
        return body


def stable_hash(*parts: str) -> int:
    """The documented 64-bit hash of length-prefixed UTF-8 parts."""
    data = bytearray()
    for part in parts:
        raw = part.encode("utf-8")
        data += len(raw).to_bytes(4, "big") + raw
    return int.from_bytes(hashlib.blake2b(bytes(data), digest_size=8).digest(), "big")


def in_coverage(seed: str, user_id: str, coverage_percent: float) -> bool:
    bucket = stable_hash(f"{HASH_VERSION}:coverage", seed, user_id) % COVERAGE_BUCKETS
    return bucket < round(coverage_percent * 100)


def weighted_variant(seed: str, user_id: str, weights: Mapping[str, float]) -> str:
    """Weighted rendezvous hashing (see the module docstring)."""
    best_name, best_score = None, math.inf
    for name, weight in weights.items():
        if weight <= 0:
            continue
        uniform = (stable_hash(f"{HASH_VERSION}:variant", seed, user_id, name) + 0.5) / _TWO_POW_64
        score = -math.log(uniform) / weight
        if score < best_score:
            best_name, best_score = name, score
    if best_name is None:
        raise ValueError("no variant has a positive weight")
    return best_name


def rule_matches(rule: Any, attributes: Mapping[str, Any]) -> bool:
    """Whether one targeting rule (a definitions.Rule) applies to the attributes.

    A missing attribute matches only ``not_in`` and ``neq``; numeric
    comparisons need a number (numeric strings count, as query strings carry
    only text)."""
    present = rule.attribute in attributes
    value = attributes.get(rule.attribute)
    if rule.op == "eq":
        return present and _same(value, rule.value)
    if rule.op == "neq":
        return not (present and _same(value, rule.value))
    if rule.op == "in":
        return present and any(_same(value, option) for option in rule.value)
    if rule.op == "not_in":
        return not (present and any(_same(value, option) for option in rule.value))
    number = _as_number(value)
    if number is None:
        return False
    return bool(_COMPARISONS[rule.op](number, rule.value))


_COMPARISONS = {
    "lt": lambda a, b: a < b,
    "lte": lambda a, b: a <= b,
    "gt": lambda a, b: a > b,
    "gte": lambda a, b: a >= b,
}


def _same(value: Any, expected: Any) -> bool:
    """Equality that also matches ``"3"`` against ``3`` and ``"true"`` against
    ``true``: query strings carry only text."""
    if isinstance(expected, bool):
        return value is expected or (isinstance(value, str) and value.lower() == str(expected).lower())
    if isinstance(expected, (int, float)):
        number = _as_number(value)
        return number is not None and number == expected
    return isinstance(value, str) and value == expected


def _as_number(value: Any) -> Optional[float]:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def assign(definition: Any, user_id: str, attributes: Optional[Mapping[str, Any]] = None) -> Assignment:
    """The variant for one user, and why.

    Order: lifecycle (paused: control, stopped: winner), forced variants (QA;
    draft and running), draft (control), targeting rules in order (first match
    decides: pin a variant or exclude), coverage, weights. Only users chosen by
    a rule's pin or by the weights take part in the experiment."""
    attributes = attributes or {}
    if definition.status == "paused":
        return Assignment(definition.control, PAUSED, False)
    if definition.status == "stopped":
        return Assignment(definition.winner, STOPPED, False)
    if user_id in definition.forced:
        return Assignment(definition.forced[user_id], FORCED, False)
    if definition.status == "draft":
        return Assignment(definition.control, DRAFT, False)
    for index, rule in enumerate(definition.rules):
        if rule_matches(rule, attributes):
            if rule.exclude:
                return Assignment(definition.control, EXCLUDED, False, index)
            return Assignment(rule.variant, RULE, True, index)
    if not in_coverage(definition.seed, user_id, definition.coverage):
        return Assignment(definition.control, COVERAGE, False)
    return Assignment(weighted_variant(definition.seed, user_id, definition.variants), WEIGHTS, True)
