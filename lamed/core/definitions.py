"""Experiment definitions: the runtime config of server-side assignment.

A definition (per namespace and experiment) holds the variants and their
weights, the control, coverage, ordered targeting rules, forced variants for
QA, the lifecycle status and, once stopped, the winner. It is validated on
write (unknown fields refused, errors name the field), stored as JSON in one
Redis hash (see :func:`lamed.core.keys.definition_field`) and read by running
handlers through a per-process cache with a TTL, so a change reaches every
handler within the TTL without redeploy or restart.

Experiments without a definition keep working exactly as before: the only
cost on the tracking path is one dict lookup in the cached snapshot.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

from lamed.core.errors import InvalidInput
from lamed.core.events import MAX_NAME_CHARS, MAX_UUID_CHARS, check_text
from lamed.core.lifecycle import DRAFT, STATUSES, STOPPED
from lamed.core.settings import DECIDING_TESTS

log = logging.getLogger("lamed")


OPERATORS = ("eq", "neq", "in", "not_in", "lt", "lte", "gt", "gte")
NUMERIC_OPERATORS = ("lt", "lte", "gt", "gte")
LIST_OPERATORS = ("in", "not_in")

MAX_VARIANTS = 50
MAX_RULES = 100
MAX_LIST_VALUES = 1000
MAX_FORCED = 10_000
MAX_DEFINITION_BYTES = 512 * 1024
# A weight is 0 (the variant gets nobody) or in [MIN_WEIGHT, MAX_WEIGHT]; at
# least one is positive. Within these, sums, shares and the sample-ratio
# check stay far from overflow and underflow, and any ratio of weights an
# experiment needs (a million to one) can be said.
MIN_WEIGHT = 1e-6
MAX_WEIGHT = 1e6
# Numbers in rules and in /assign's attributes: within +-MAX_NUMBER, so a
# float holds them exactly and comparing never overflows.
MAX_NUMBER = 1e15

DEFINITION_FIELDS = (
    "variants", "control", "coverage", "rules", "forced", "status", "winner", "seed", "description",
    "primary_goal", "deciding_test",
)  # fmt: skip
# Left out of the stored document while unset, so definitions written before they existed keep their bytes.
OPTIONAL_FIELDS = ("primary_goal", "deciding_test")
RULE_FIELDS = ("attribute", "op", "value", "variant", "exclude")


@dataclass(frozen=True)
class Rule:
    """``attribute op value`` on user attributes; pins ``variant`` or excludes."""

    attribute: str
    op: str
    value: Any
    variant: Optional[str] = None
    exclude: bool = False

    def to_dict(self) -> dict[str, Any]:
        body = {"attribute": self.attribute, "op": self.op, "value": self.value}
        if self.exclude:
            body["exclude"] = True
        else:
            body["variant"] = self.variant
        return body


@dataclass(frozen=True)
class Definition:
    name: str
    variants: Mapping[str, float]  # variant -> weight, in the order given
    control: str
    coverage: float = 100.0  # percent of users in the experiment
    rules: tuple[Rule, ...] = ()
    forced: Mapping[str, str] = field(default_factory=dict)  # user id -> variant
    status: str = DRAFT
    winner: Optional[str] = None
    seed: str = ""  # hash seed; empty means the name
    description: str = ""
    primary_goal: Optional[str] = None  # the goal the dashboard's decision is about
    deciding_test: Optional[str] = None  # "sequential" or "fixed"; None: the setting

    def __post_init__(self) -> None:
        if not self.seed:
            object.__setattr__(self, "seed", self.name)

    def to_dict(self) -> dict[str, Any]:
        optional = {name: getattr(self, name) for name in OPTIONAL_FIELDS if getattr(self, name) is not None}
        return {
            "variants": dict(self.variants),
            "control": self.control,
            "coverage": self.coverage,
            "rules": [rule.to_dict() for rule in self.rules],
            "forced": dict(self.forced),
            "status": self.status,
            "winner": self.winner,
            "seed": self.seed,
            "description": self.description,
            **optional,
        }

    def public_dict(self, namespace: str) -> dict[str, Any]:
        return {"namespace": namespace, "experiment": self.name, **self.to_dict()}


# -- validation ---------------------------------------------------------


def _text(value: Any, field_name: str, limit: int = MAX_NAME_CHARS) -> str:
    """A non-empty UTF-8 string within the limit, validated as event names are."""
    return check_text(field_name, value, limit)


def check_number(value: Any, field_name: str, low: float = -MAX_NUMBER, high: float = MAX_NUMBER) -> float:
    """``value`` if it is a number (not a bool) in [low, high]; else
    InvalidInput naming the field. Compares integers of any size exactly,
    never converting them (a 400-digit integer does not fit a float)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidInput(f"{field_name} must be a number", field_name)
    if (isinstance(value, float) and not math.isfinite(value)) or not low <= value <= high:
        raise InvalidInput(f"{field_name} must be a finite number from {low:g} to {high:g}", field_name)
    return value


def _refuse_unknown(data: Mapping[str, Any], allowed: tuple[str, ...], prefix: str) -> None:
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise InvalidInput(
            f"unknown field {prefix}{unknown[0]!r}; allowed: {', '.join(allowed)}", f"{prefix}{unknown[0]}"
        )


def _mapping(value: Any, field_name: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise InvalidInput(f"{field_name} must be a JSON object", field_name)
    return value


def definition_from_dict(name: Any, data: Any) -> Definition:
    """Validates a definition document; raises InvalidInput naming the field."""
    name = _text(name, "experiment")
    data = _mapping(data, "definition")
    _refuse_unknown(data, DEFINITION_FIELDS, "")
    variants = _variants(data.get("variants"))
    control = _member(data.get("control", next(iter(variants))), variants, "control")
    coverage = check_number(data.get("coverage", 100), "coverage", 0, 100)  # a percentage
    status = data.get("status", DRAFT)
    if status not in STATUSES:
        raise InvalidInput(f"status must be one of {', '.join(STATUSES)}", "status")
    winner = data.get("winner")
    if status == STOPPED:
        winner = _member(winner, variants, "winner")
    elif winner is not None:
        raise InvalidInput("winner is only allowed when status is stopped", "winner")
    seed = data.get("seed") or name
    description = data.get("description", "")
    if not isinstance(description, str) or len(description) > 2000:
        raise InvalidInput("description must be a string of at most 2000 characters", "description")
    definition = Definition(
        name=name,
        variants=variants,
        control=control,
        coverage=coverage,
        rules=_rules(data.get("rules", []), variants),
        forced=_forced(data.get("forced", {}), variants),
        status=status,
        winner=winner,
        seed=_text(seed, "seed"),
        description=description,
        primary_goal=_optional_text(data.get("primary_goal"), "primary_goal"),
        deciding_test=_deciding_test(data.get("deciding_test")),
    )
    if len(encode(definition)) > MAX_DEFINITION_BYTES:
        raise InvalidInput(f"definition is larger than {MAX_DEFINITION_BYTES} bytes", "definition")
    return definition


def _optional_text(value: Any, field_name: str) -> Optional[str]:
    return None if value is None else _text(value, field_name)


def _deciding_test(value: Any) -> Optional[str]:
    if value is not None and value not in DECIDING_TESTS:
        raise InvalidInput(f"deciding_test must be one of {', '.join(DECIDING_TESTS)} (or null)", "deciding_test")
    return value  # type: ignore[no-any-return]


def _variants(value: Any) -> dict[str, float]:
    variants = _mapping(value, "variants")
    if not variants:
        raise InvalidInput("variants must name at least one variant", "variants")
    if len(variants) > MAX_VARIANTS:
        raise InvalidInput(f"at most {MAX_VARIANTS} variants", "variants")
    weights = {}
    for variant, weight in variants.items():
        _text(variant, "variants")
        where = f"variants.{variant}"
        weights[variant] = check_number(weight, where, 0, MAX_WEIGHT)
        if 0 < weight < MIN_WEIGHT:
            raise InvalidInput(f"weight of {variant!r} must be 0 or at least {MIN_WEIGHT:g}", where)
    if not any(weights.values()):
        raise InvalidInput("at least one weight must be positive", "variants")
    return weights


def _member(value: Any, variants: Mapping[str, float], field_name: str) -> str:
    if not isinstance(value, str) or value not in variants:
        raise InvalidInput(f"{field_name} must be one of the variants: {', '.join(variants)}", field_name)
    return value


def _rules(value: Any, variants: Mapping[str, float]) -> tuple[Rule, ...]:
    if not isinstance(value, list):
        raise InvalidInput("rules must be a list", "rules")
    if len(value) > MAX_RULES:
        raise InvalidInput(f"at most {MAX_RULES} rules", "rules")
    return tuple(_rule(item, variants, f"rules[{index}]") for index, item in enumerate(value))


def _rule(item: Any, variants: Mapping[str, float], where: str) -> Rule:
    item = _mapping(item, where)
    _refuse_unknown(item, RULE_FIELDS, f"{where}.")
    op = item.get("op")
    if op not in OPERATORS:
        raise InvalidInput(f"{where}.op must be one of {', '.join(OPERATORS)}", f"{where}.op")
    exclude = item.get("exclude", False)
    if not isinstance(exclude, bool):
        raise InvalidInput(f"{where}.exclude must be true or false", f"{where}.exclude")
    if exclude == ("variant" in item):
        raise InvalidInput(f"{where} must either pin a variant or set exclude: true", f"{where}.variant")
    return Rule(
        attribute=_text(item.get("attribute"), f"{where}.attribute"),
        op=op,
        value=_rule_value(item.get("value"), op, f"{where}.value"),
        variant=None if exclude else _member(item.get("variant"), variants, f"{where}.variant"),
        exclude=exclude,
    )


def _rule_value(value: Any, op: str, field_name: str) -> Any:
    if op in NUMERIC_OPERATORS:
        return check_number(value, field_name)
    if op in LIST_OPERATORS:
        if not isinstance(value, list) or not 0 < len(value) <= MAX_LIST_VALUES:
            raise InvalidInput(f"{field_name} must be a list of 1 to {MAX_LIST_VALUES} values", field_name)
        return [_scalar(option, field_name) for option in value]
    return _scalar(value, field_name)


def _scalar(value: Any, field_name: str) -> Any:
    if isinstance(value, str):
        return _text(value, field_name)
    if isinstance(value, bool):
        return value
    return check_number(value, field_name)


def _forced(value: Any, variants: Mapping[str, float]) -> dict[str, str]:
    forced = _mapping(value, "forced")
    if len(forced) > MAX_FORCED:
        raise InvalidInput(f"at most {MAX_FORCED} forced users", "forced")
    for user_id, variant in forced.items():
        _text(user_id, "forced", MAX_UUID_CHARS)
        _member(variant, variants, f"forced.{user_id}")
    return dict(forced)


def encode(definition: Definition) -> bytes:
    return json.dumps(definition.to_dict(), ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def decode(name: str, raw: bytes) -> Definition:
    return definition_from_dict(name, json.loads(raw))


def decode_or_none(name: str, raw: bytes) -> Optional[Definition]:
    """A stored definition, or None with a warning if it no longer validates,
    so one bad entry cannot break assignment of everything else."""
    try:
        return decode(name, raw)
    except (InvalidInput, ValueError) as error:
        log.warning("skipping invalid definition %r: %s", name, error)
        return None


def updated(definition: Definition, changes: Mapping[str, Any]) -> Definition:
    """The definition with some fields replaced, validated again."""
    return definition_from_dict(definition.name, {**definition.to_dict(), **changes})
