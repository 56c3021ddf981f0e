"""Goals that carry a value (issue 23): parsed exactly or refused with a 400
naming the field, counted once with the flag and the count (a resend with
another value is a duplicate, the first value stands), the sums exact,
through both track modes on a real redis-server, export and import.
The same on Redis Cluster: tests/test_cluster.py."""

from __future__ import annotations

import json
import random
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction

import pytest
import redis

from lamed.core.counting import COUNTED, DUPLICATE
from lamed.core.errors import InvalidInput, StoreUnavailable
from lamed.core.events import MAX_VALUE, VALUE_UNIT, Event, check_value, event_from_mapping, parse_body
from lamed.core.settings import Settings
from lamed.store.results import Store, open_store
from lamed.store.transfer import export_document, import_document
from tests.conftest import http


def goal(uuid: str, value, variant: str = "A", experiment: str = "shop", name: str = "buy") -> Event:
    micro = None if value is None else check_value(value)
    return Event("ns", experiment, variant, name, uuid, micro)


# -- parsing ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "micro"),
    [
        (12, 12_000_000),
        (12.5, 12_500_000),
        ("19.99", 19_990_000),
        (-5.25, -5_250_000),  # a refund
        ("0.000001", 1),
        (0.1, 100_000),  # its shortest repr, not the binary fraction
        ("1e3", 1_000_000_000),
        (MAX_VALUE, MAX_VALUE * VALUE_UNIT),
        (-MAX_VALUE, -MAX_VALUE * VALUE_UNIT),
        ("2.500000000", 2_500_000),
        (0, 0),
    ],
)
def test_a_value_is_read_exactly_in_micro_units(given, micro):
    assert check_value(given) == micro


@pytest.mark.parametrize(
    ("given", "says"),
    [
        (float("nan"), "finite"),
        (float("inf"), "finite"),
        ("NaN", "finite"),
        ("-Infinity", "finite"),
        (MAX_VALUE + 1, "between"),
        (1e10, "between"),
        ("1000000000.000001", "between"),
        ("1e-7", "decimal places"),
        (0.1234567, "decimal places"),
        (True, "number"),
        ("ten", "number"),
        ([1], "number"),
        ("", "number"),
    ],
)
def test_a_bad_value_is_refused_naming_the_field(given, says):
    with pytest.raises(InvalidInput) as refused:
        event_from_mapping({"experiment": "e", "variant": "A", "event": "buy", "uuid": "u", "value": given}, query=True)
    assert refused.value.field == "value"
    assert says in refused.value.message


def test_a_value_on_participate_is_refused():
    with pytest.raises(InvalidInput) as refused:
        event_from_mapping({"experiment": "e", "variant": "A", "event": "participate", "uuid": "u", "value": 1})
    assert refused.value.field == "value"


def test_a_batch_names_the_item_whose_value_is_bad():
    body = json.dumps([{"experiment": "e", "variant": "A", "event": "buy", "uuid": "u", "value": v} for v in (1, "1")])
    items = parse_body(body.encode(), "application/json").items
    assert items[0].value == VALUE_UNIT
    assert isinstance(items[1], InvalidInput) and items[1].field == "events[1].value"


def test_json_nan_and_huge_exponents_are_refused():
    for text in ('{"value": NaN', '{"value": Infinity', '{"value": -Infinity', '{"value": 1e400'):
        body = text + ', "experiment": "e", "variant": "A", "event": "buy", "uuid": "u"}'
        with pytest.raises(InvalidInput) as refused:
            parse_body(body.encode(), "application/json")
        assert refused.value.field == "value"


BAD_QUERIES = ["nan", "inf", "-infinity", "1e10", "1000000001", "0.0000001", "1.1234567", "abc", "", "1,5"]


@pytest.mark.parametrize("value", BAD_QUERIES)
def test_get_track_answers_400_for_a_bad_value_and_stores_nothing(live_server, store, value):
    query = f"experiment=e&variant=A&event=buy&uuid=u&value={value}"
    response = http("GET", f"{live_server.url}/track?{query}")
    assert response.status == 400
    assert response.json()["field"] == "value"
    assert store.experiment("alephbet", "e").is_empty


@pytest.mark.parametrize(
    ("item", "field"),
    [
        ({"event": "participate", "value": 3}, "value"),
        ({"value": "12.5"}, "value"),  # a string is no JSON number
        ({"value": 1e12}, "value"),
        ({"value": 0.0000001}, "value"),
        ({"value": True}, "value"),
    ],
)
def test_post_track_answers_400_naming_the_value(live_server, store, item, field):
    event = {"experiment": "e", "variant": "A", "event": "buy", "uuid": "u", **item}
    headers = {"Content-Type": "application/json"}
    single = http("POST", f"{live_server.url}/track", json.dumps(event).encode(), headers)
    assert single.status == 400 and single.json()["field"] == field
    batch = http("POST", f"{live_server.url}/track", json.dumps([event]).encode(), headers)
    assert batch.status == 400 and batch.json()["results"][0]["field"] == f"events[0].{field}"
    assert store.experiment("alephbet", "e").is_empty


def test_get_and_post_track_count_a_value(live_server, store):
    assert http("GET", f"{live_server.url}/track?experiment=e&variant=A&event=buy&uuid=u1&value=19.99").status == 200
    body = json.dumps(
        [{"experiment": "e", "variant": "A", "event": "buy", "uuid": f"u{n}", "value": -2.5} for n in (2, 3)]
    )
    assert http("POST", f"{live_server.url}/track", body.encode(), {"Content-Type": "application/json"}).status == 200
    counts = store.experiment("alephbet", "e")
    assert counts.count("buy", "A") == 3
    assert counts.value_sum("buy", "A") == 14_990_000
    assert counts.value_sum_of_squares("buy", "A") == 19_990_000**2 + 2 * 2_500_000**2


# -- counting on a real redis-server, both modes ------------------------------------


@pytest.fixture(params=["watch", "lua"])
def mode_store(request, redis_url) -> Store:
    built = open_store(Settings(redis_url=redis_url, track_mode=request.param, watch_retries=100))
    yield built
    built.client.close()


def test_a_resend_with_another_value_is_a_duplicate_and_the_first_value_stands(mode_store):
    assert mode_store.track(goal("u1", "10.5")) == COUNTED
    assert mode_store.track(goal("u1", "99")) == DUPLICATE
    assert mode_store.track(goal("u1", None)) == DUPLICATE
    assert mode_store.track_many([goal("u2", 3), goal("u2", 4), goal("u3", -1)]) == [COUNTED, DUPLICATE, COUNTED]
    counts = mode_store.experiment("ns", "shop")
    assert counts.count("buy", "A") == 3
    assert counts.value_sum("buy", "A") == (10_500_000 + 3_000_000 - 1_000_000)
    assert counts.value_sum_of_squares("buy", "A") == 10_500_000**2 + 3_000_000**2 + 1_000_000**2


def test_an_event_without_a_value_writes_no_values(mode_store):
    mode_store.track(goal("u1", None))
    counts = mode_store.experiment("ns", "shop")
    assert counts.count("buy", "A") == 1 and counts.value_goals == []
    assert not mode_store.client.exists(mode_store.keys.values_key("ns", "shop"))


def test_concurrent_writers_sum_each_distinct_uuids_first_value(redis_url, mode_store, monkeypatch):
    """Eight trackers send 300 valued events (100 distinct uuids, each sent
    three times with different values, in other orders and batch sizes, in
    transactions of 1 to 3): the sums are those of the first value each uuid
    was counted with, and every uuid is counted once."""
    from lamed.web.runtime import build_tracker

    config = mode_store.tracker.settings
    sends = [goal(f"u{n % 100}", f"{(n * 7919) % 20000 / 100 - 50:.2f}") for n in range(300)]

    def send(seed: int) -> list:
        tracker, order = build_tracker(config), random.Random(seed).sample(sends, len(sends))
        size = 1 + seed % 5
        return [
            (e, o)
            for i in range(0, len(order), size)
            for e, o in zip(order[i : i + size], tracker.track_many(order[i : i + size]))
        ]

    monkeypatch.setattr("lamed.core.counting.TRANSACTION_EVENTS", 3)
    with ThreadPoolExecutor(8) as pool:
        outcomes = [pair for found in pool.map(send, range(8)) for pair in found]
    counted = [event for event, outcome in outcomes if outcome == COUNTED]
    assert sorted(event.uuid for event in counted) == sorted(f"u{n}" for n in range(100))
    counts = mode_store.experiment("ns", "shop")
    assert counts.count("buy", "A") == 100
    assert counts.value_sum("buy", "A") == sum(event.value for event in counted)
    assert counts.value_sum_of_squares("buy", "A") == sum(event.value**2 for event in counted)


def test_values_are_kept_per_goal_variant_and_day(mode_store):
    day1, day2 = 1_795_000_000, 1_795_000_000 + 86_400
    mode_store.track_many([goal("a", 1, "A"), goal("b", 2, "B"), goal("c", 4, "A", name="upsell")], now=day1)
    mode_store.track(goal("d", 8, "A"), now=day2)
    counts = mode_store.experiment("ns", "shop")
    assert counts.value_goals == ["buy", "upsell"]
    assert counts.value_sum("buy", "A") == 9 * VALUE_UNIT
    assert counts.value_sum("buy", "B") == 2 * VALUE_UNIT
    days = sorted({day for day, _, _ in counts.value_sums})
    assert [counts.value_sum("buy", "A", day) for day in days] == [VALUE_UNIT, 8 * VALUE_UNIT]


def test_sums_of_squares_past_two_to_the_64_stay_within_1e_12(mode_store):
    """The sum of squares is kept by HINCRBYFLOAT (a long double): exact while
    below 2**64 micro-units squared, then within 2**-64 per increment."""
    values = [MAX_VALUE - n for n in range(400)] + [-MAX_VALUE, "0.000001", "123456.789012"]
    assert mode_store.track_many([goal(f"u{n}", v) for n, v in enumerate(values)]) == [COUNTED] * len(values)
    for n in range(400, 600):  # one event per transaction: as many increments as events
        mode_store.track(goal(f"single {n}", MAX_VALUE - n))
    micro = [check_value(v) for v in values] + [check_value(MAX_VALUE - n) for n in range(400, 600)]
    counts = mode_store.experiment("ns", "shop")
    assert counts.value_sum("buy", "A") == sum(micro)  # exact
    exact = sum(m * m for m in micro)
    assert exact > 2**64
    assert abs(Fraction(counts.value_sum_of_squares("buy", "A")) / exact - 1) < Fraction(1, 10**12)


def test_a_failed_values_write_takes_the_event_back_whole(mode_store, redis_url):
    """EXEC (and a script) does not roll back: a values hash of the wrong type
    fails the event's value writes after its count; the event is taken back
    (flag, count) and answered 503, and counted whole once the key is fixed."""
    mode_store.track(goal("u0", 1))
    values_key = mode_store.keys.values_key("ns", "shop")
    observer = redis.Redis.from_url(redis_url)
    observer.delete(values_key)
    observer.set(values_key, "not a hash")
    with pytest.raises(StoreUnavailable):
        mode_store.track(goal("u1", 2))
    with pytest.raises(StoreUnavailable):
        mode_store.track_many([goal("u2", 3), goal("u3", None)])
    counters = observer.hgetall(mode_store.keys.counts_key("ns", "shop"))  # the values key is unreadable now
    u3_counted = observer.exists(mode_store.keys.flag(*goal("u3", None)))  # watch: yes; lua stops at u2
    assert sum(int(count) for count in counters.values()) == 1 + u3_counted  # u0, and u3 if its flag is set
    assert not any(observer.exists(mode_store.keys.flag(*goal(uuid, None))) for uuid in ("u1", "u2"))
    observer.delete(values_key)
    retried = mode_store.track_many([goal("u1", 2), goal("u2", 3), goal("u3", None)])
    assert retried == [COUNTED, COUNTED, DUPLICATE if u3_counted else COUNTED]
    counts = mode_store.experiment("ns", "shop")
    assert counts.count("buy", "A") == 4
    assert counts.value_sum("buy", "A") == 5 * VALUE_UNIT  # u0's value went with the deleted key


# -- export and import -----------------------------------------------------------------


def test_export_and_import_carry_the_values(mode_store, redis_url):
    mode_store.track_many([goal("a", "19.99"), goal("b", -5), goal("c", None, "B"), goal("d", 7, "B")])
    mode_store.track(Event("ns", "shop", "A", "participate", "a"))
    document = json.loads(json.dumps(export_document(mode_store)))
    (experiment,) = document["experiments"]
    assert {row["sum_micro"] for row in experiment["values"]} == {14_990_000, 7_000_000}
    redis.Redis.from_url(redis_url).flushall()
    import_document(mode_store, document)
    import_document(mode_store, document)  # a restore: twice is once
    counts = mode_store.experiment("ns", "shop")
    assert counts.value_sum("buy", "A") == 14_990_000
    assert counts.value_sum_of_squares("buy", "A") == 19_990_000**2 + 5_000_000**2
    assert counts.value_sum("buy", "B") == 7_000_000
    assert counts.count("buy", "B") == 2 and counts.count("participate", "A") == 1
    assert export_document(mode_store)["experiments"][0]["values"] == experiment["values"]


def test_an_export_without_values_imports_as_before(mode_store):
    document = {
        "format": "lamed-export",
        "version": 1,
        "experiments": [{"namespace": "ns", "experiment": "old", "counts": [
            {"day": "20261201", "event": "buy", "variant": "A", "count": 3}]}],
    }  # fmt: skip
    import_document(mode_store, document)
    counts = mode_store.experiment("ns", "old")
    assert counts.count("buy", "A") == 3 and counts.value_goals == []


def test_an_event_over_a_limit_writes_no_value(redis_url):
    """The key-space limits cover the values hash: its fields exist only for a
    (goal, variant) the limits admitted."""
    from lamed.core.errors import LimitExceeded

    limited = open_store(Settings(redis_url=redis_url, max_goals_per_experiment=1))
    assert limited.track(goal("u1", 5, name="buy")) == COUNTED
    refused = limited.track(goal("u2", 7, name="upsell"))
    assert isinstance(refused, LimitExceeded) and refused.setting == "max_goals_per_experiment"
    counts = limited.experiment("ns", "shop")
    assert counts.value_goals == ["buy"] and counts.value_sum("buy", "A") == 5 * VALUE_UNIT
    limited.client.close()


def test_the_lambda_handler_answers_a_bad_value_with_a_400_and_counts_a_good_one(store):
    from app import handler
    from lamed.web.gateway import proxy_event

    base = {"experiment": "e", "variant": "A", "event": "buy", "uuid": "u1"}
    bad = handler(proxy_event("GET", "/track", query={**base, "value": "1e10"}), None)
    assert bad["statusCode"] == 400 and json.loads(bad["body"])["field"] == "value"
    good = handler(proxy_event("GET", "/track", query={**base, "value": "12.34"}), None)
    assert good["statusCode"] == 200 and json.loads(good["body"])["status"] == COUNTED
    assert store.experiment("alephbet", "e").value_sum("buy", "A") == 12_340_000
