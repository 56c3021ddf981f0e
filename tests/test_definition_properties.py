"""A definition the API accepts works everywhere: hypothesis writes
definitions over the whole schema (numbers huge, tiny, negative, not finite;
rules of every operator; any status), PUTs them, counts traffic for their
variants, then drives /assign (GET and POST, with hostile attributes), the
dashboard list, the experiment page and both exports. Nothing answers 5xx:
bad input is a 400, and what was accepted renders."""

from __future__ import annotations

import json
from urllib.parse import quote, urlencode

import pytest
from chalice.test import Client
from conftest import API_KEY
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from app import app
from lamed.core.definitions import OPERATORS
from lamed.core.events import Event
from lamed.core.lifecycle import STATUSES

KEY = {"x-api-key": API_KEY}
FORM = {"content-type": "application/x-www-form-urlencoded"}
JSON = {"content-type": "application/json", **KEY}
EXPERIMENT = "prop"

HOSTILE_NUMBERS = [10**400, -(10**400), 1e308, -1e308, 1e-320, 5e-324, 0, -1, 1e6, 1e-6, 2**63, 1e15, 1e16]
hostile = st.one_of(st.sampled_from(HOSTILE_NUMBERS), st.integers(), st.floats(allow_nan=True, allow_infinity=True))
bounded = st.one_of(st.integers(-(10**15), 10**15), st.floats(-1e15, 1e15))
weights = st.one_of(st.just(0), st.integers(1, 10**6), st.floats(1e-6, 1e6))
names = st.text(st.sampled_from("ABC-é"), min_size=1, max_size=3)
scalars = st.one_of(bounded, names, st.booleans())


@st.composite
def definitions(draw) -> dict:
    """A valid definition, half the time with one hostile number in it."""
    variant_names = draw(st.lists(names, min_size=1, max_size=4, unique=True))
    variants = {name: draw(weights) for name in variant_names}
    variants[variant_names[0]] = draw(st.integers(1, 10**6))  # one positive
    variant = st.sampled_from(variant_names)
    status = draw(st.sampled_from(STATUSES))
    document = {"variants": variants, "control": draw(variant), "coverage": draw(st.floats(0, 100)), "status": status}
    if status == "stopped":
        document["winner"] = draw(variant)
    document["rules"] = [draw(_rule(variant)) for _ in range(draw(st.integers(0, 3)))]
    document["forced"] = draw(st.dictionaries(names, variant, max_size=2))
    if draw(st.booleans()):
        number = draw(hostile)
        place = draw(st.sampled_from(["weight", "coverage", "rule"]))
        if place == "weight":
            variants[draw(variant)] = number
        elif place == "coverage":
            document["coverage"] = number
        else:
            document["rules"].append({"attribute": "age", "op": draw(st.sampled_from(OPERATORS)), "value": number,
                                      "variant": draw(variant)})  # fmt: skip
    return document


def _rule(variant) -> st.SearchStrategy:
    op = st.sampled_from(OPERATORS)
    return op.flatmap(
        lambda chosen: st.fixed_dictionaries(
            {
                "attribute": st.sampled_from(["age", "plan", "x"]),
                "op": st.just(chosen),
                "value": bounded
                if chosen in ("lt", "lte", "gt", "gte")
                else st.lists(scalars, min_size=1, max_size=3)
                if chosen in ("in", "not_in")
                else scalars,
            }
        ).flatmap(
            lambda rule: st.one_of(
                variant.map(lambda name: {**rule, "variant": name}), st.just({**rule, "exclude": True})
            )
        )
    )


attributes = st.dictionaries(st.sampled_from(["age", "plan", "x"]), st.one_of(scalars, hostile, st.none()), max_size=3)
traffic = st.lists(st.tuples(st.integers(0, 60), st.integers(0, 60)), min_size=1, max_size=4)


@pytest.fixture
def client(fake_store):
    with Client(app) as test_client:
        yield test_client


@pytest.fixture
def cookie(client) -> dict:
    response = client.http.post("/dashboard/login", body=urlencode({"key": API_KEY}), headers=FORM)
    return {"cookie": response.headers["Set-Cookie"].split(";")[0]}


def _count(store, variants: list, arms: list) -> None:
    events = []
    for variant, (trials, conversions) in zip(variants, arms):
        for number in range(trials):
            events.append(Event("alephbet", EXPERIMENT, variant, "participate", f"{variant}-{number}"))
            if number < min(conversions, trials):
                events.append(Event("alephbet", EXPERIMENT, variant, "signup", f"{variant}-{number}"))
    if events:
        store.track_many(events)


def _no_5xx(response, what: str) -> None:
    assert response.status_code < 500, f"{what}: {response.status_code} {response.body[:300]!r}"


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(document=definitions(), arms=traffic, attrs=attributes)
def test_no_definition_makes_anything_answer_5xx(client, fake_store, cookie, document, arms, attrs):
    put = client.http.put(f"/definitions/{EXPERIMENT}", body=json.dumps(document), headers=JSON)
    _no_5xx(put, "PUT")
    assert put.status_code in (200, 201, 400), put.body
    event(f"PUT {put.status_code}")  # how many were accepted: --hypothesis-show-statistics
    if put.status_code == 400:
        assert json.loads(put.body)["field"]
    _count(fake_store, list(document["variants"]), arms)
    query = urlencode({"experiment": EXPERIMENT, "user_id": "u1", **{f"attr.{k}": str(v) for k, v in attrs.items()}})
    _no_5xx(client.http.get(f"/assign?{query}"), "GET /assign")
    body = json.dumps({"experiment": EXPERIMENT, "user_id": "u1", "attributes": attrs})
    _no_5xx(client.http.post("/assign", body=body, headers={"content-type": "application/json"}), "POST /assign")
    _no_5xx(client.http.get("/dashboard", headers=cookie), "the dashboard list")
    _no_5xx(client.http.get(f"/dashboard/{quote(EXPERIMENT)}", headers=cookie), "the experiment page")
    for fmt in ("csv", "json"):
        export = client.http.get(f"/dashboard/export?experiment={EXPERIMENT}&format={fmt}", headers=cookie)
        _no_5xx(export, f"the {fmt} export")
    _no_5xx(client.http.get(f"/experiments/{EXPERIMENT}", headers=KEY), "the results API")


def test_the_sample_ratio_check_takes_weights_near_the_float_limit():
    from lamed.stats.srm import sample_ratio_mismatch

    huge = sample_ratio_mismatch([500, 520], [1e308, 1e308])
    assert huge == sample_ratio_mismatch([500, 520], [1, 1]) and not huge.mismatch
