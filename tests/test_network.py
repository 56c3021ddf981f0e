"""Counting on the network Lamed really runs on, not loopback: a TCP proxy
(tests/netproxy.py) between Lamed and a real redis-server forgets kept
connections (a reset, or silence) and cuts one right after a write. Each
request must still be answered from Redis on its first try, and counted
must mean listed."""

from __future__ import annotations

import json
import time

import pytest
import redis
from conftest import API_KEY
from netproxy import FlakyProxy

from lamed.core.counting import COUNTED, DUPLICATE, TRACK_SCRIPT
from lamed.core.events import Event
from lamed.core.settings import Settings
from lamed.store.results import open_store
from lamed.web import runtime

TIMEOUT = Settings().redis_timeout_seconds


def ev(experiment: str, uuid: str, variant: str = "A", event: str = "participate") -> Event:
    return Event("ns", experiment, variant, event, uuid)


@pytest.fixture
def proxy(redis_server, redis_url):
    flaky = FlakyProxy(redis_server.port)
    yield flaky
    flaky.close()


@pytest.fixture
def direct(redis_url):
    """A store straight on Redis, to see what really got written."""
    built = open_store(Settings(redis_url=redis_url, api_key=API_KEY))
    yield built
    built.client.close()


def _through(proxy: FlakyProxy, **settings):
    return open_store(Settings(redis_url=proxy.url, api_key=API_KEY, **settings))


def _single(store, direct) -> None:
    assert store.track(ev("kept", "u1")) == COUNTED
    assert direct.experiment("ns", "kept").count("participate", "A") == 2


def _batch(store, direct) -> None:
    events = [ev("kept", f"b{n}") for n in range(10)] + [ev("kept", "u0")]
    assert store.track_many(events) == [COUNTED] * 10 + [DUPLICATE]
    assert direct.experiment("ns", "kept").count("participate", "A") == 11


def _results(store, direct) -> None:
    assert store.experiment("ns", "kept").count("participate", "A") == 1


def _definitions(store, direct) -> None:
    direct.client.hset(direct.keys.definitions, "field", "value")
    assert store.tracker.read_hash(store.keys.definitions) == {b"field": b"value"}


def _listing(store, direct) -> None:  # redis-py's connection, as the dashboard lists
    assert store.experiment_names("ns") == ["kept"]


OPERATIONS = {"single": _single, "batch": _batch, "results": _results, "definitions": _definitions, "listing": _listing}


@pytest.mark.parametrize("operation", OPERATIONS)
@pytest.mark.parametrize("how", ["reset", "silent"])
def test_a_kept_connection_dropped_while_idle_is_replaced_within_the_request(proxy, direct, how, operation):
    store = _through(proxy)
    assert store.track(ev("kept", "u0")) == COUNTED  # the lean connection is now kept
    assert store.namespaces() == ["ns"]  # and redis-py's
    proxy.forget(how)
    started = time.monotonic()
    OPERATIONS[operation](store, direct)  # answered from Redis on its first call, no StoreUnavailable
    elapsed = time.monotonic() - started
    if how == "silent":  # one timeout to find out, then a fresh connection
        assert TIMEOUT * 0.9 <= elapsed < 2 * TIMEOUT + 0.5, elapsed
    else:  # a reset is known at once
        assert elapsed < TIMEOUT, elapsed
    store.client.close()


@pytest.mark.parametrize("mode", ["watch", "lua"])
def test_a_dropped_connection_in_lua_and_watch_modes_alike(proxy, direct, mode):
    store = _through(proxy, track_mode=mode)
    assert store.track(ev("kept", "u0")) == COUNTED
    proxy.forget("reset")
    assert store.track(ev("kept", "u1")) == COUNTED
    assert store.track(ev("kept", "u1")) == DUPLICATE
    assert direct.experiment("ns", "kept").count("participate", "A") == 2
    store.client.close()


@pytest.mark.parametrize("mode, marker", [("watch", b"$4\r\nEXEC\r\n"), ("lua", b"$7\r\nEVALSHA\r\n")])
def test_a_connection_cut_right_after_the_write_leaves_the_experiment_counted_once_and_listed(
    proxy, direct, mode, marker
):
    """Redis ran the write, the answer never came back: the retry inside the
    request finds the flag (``duplicate``, a 200), and the experiment is
    listed, because its names were registered before anything was counted."""
    store = _through(proxy, track_mode=mode)
    direct.client.script_load(TRACK_SCRIPT)  # EVALSHA then runs the script, whatever ran before
    proxy.cut_after(marker)
    assert store.track(ev("cut", "u1", event="signup")) == DUPLICATE
    assert proxy.cuts == 1
    assert direct.experiment_names("ns") == ["cut"]
    assert direct.namespaces() == ["ns"]
    counts = direct.experiment("ns", "cut")
    assert counts.count("signup", "A") == 1
    assert store.track(ev("cut", "u1", event="signup")) == DUPLICATE
    store.client.close()


@pytest.mark.parametrize("resent", [False, True], ids=["new", "resent"])
def test_a_connection_cut_inside_the_pipeline_before_its_transaction_counts_once(proxy, direct, resent):
    """The one round trip's WATCH and ``SET .. XX`` reached Redis, its
    MULTI..EXEC did not: nothing was counted and Redis dropped the watch
    with the connection. The retry counts a new event once and answers a
    resent one ``duplicate``; every event answered is stored and listed."""
    store = _through(proxy)
    if resent:
        assert store.track(ev("piped", "u1")) == COUNTED
    proxy.cut_before(b"$5\r\nMULTI\r\n")
    assert store.track(ev("piped", "u1")) == (DUPLICATE if resent else COUNTED)
    assert proxy.cuts == 1
    assert direct.experiment_names("ns") == ["piped"]
    assert direct.experiment("ns", "piped").count("participate", "A") == 1
    store.client.close()


def test_a_redis_that_stops_answering_costs_two_timeouts_then_a_503(proxy, direct):
    """The retry's bound: one timeout for the kept connection, one for the
    fresh one, then StoreUnavailable (the client retries later)."""
    from lamed.core.errors import StoreUnavailable

    store = _through(proxy)
    assert store.track(ev("kept", "u0")) == COUNTED
    admin = redis.Redis(port=proxy.upstream_port)
    admin.execute_command("CLIENT", "PAUSE", int(4 * TIMEOUT * 1000), "ALL")
    try:
        started = time.monotonic()
        with pytest.raises(StoreUnavailable):
            store.track(ev("kept", "u1"))
        elapsed = time.monotonic() - started
        assert 2 * TIMEOUT * 0.9 <= elapsed < 2 * TIMEOUT + 0.5, elapsed
    finally:
        admin.execute_command("CLIENT", "UNPAUSE")
        admin.close()
    assert store.track(ev("kept", "u1")) in (COUNTED, DUPLICATE)
    assert direct.experiment("ns", "kept").count("participate", "A") == 2
    store.client.close()


def test_the_warmup_invocation_pings_redis_on_the_kept_connection(proxy, direct, monkeypatch):
    """A warm Lambda environment's scheduled warm-up keeps the connection's
    flow alive (a NAT gateway forgets flows idle for 350 s; the warm-up runs
    every 5 minutes) and replaces a connection that was dropped meanwhile."""
    from lamed.web.lambda_handler import make_handler

    runtime.install(Settings(redis_url=proxy.url, api_key=API_KEY))
    handler = make_handler(lambda: pytest.fail("the warm-up needs no Chalice"))
    try:
        assert handler({"lamed-warmup": True}, None) == {"warm": True}  # nothing to keep yet: no Redis
        assert proxy.connections == 0
        runtime.tracker().track(ev("kept", "u0"))
        pings = _pings(direct)
        proxy.forget("reset")
        assert handler({"lamed-warmup": True}, None) == {"warm": True, "redis": "ok"}
        assert _pings(direct) == pings + 1
        connections = proxy.connections
        assert runtime.tracker().track(ev("kept", "u1")) == COUNTED
        assert proxy.connections == connections  # the warm-up already replaced it
    finally:
        runtime.install(Settings())


def _pings(direct) -> int:
    stats = direct.client.info("commandstats")
    return stats.get("cmdstat_ping", {}).get("calls", 0)


def test_proxy_forwards_untouched(proxy):
    """The proxy itself is transparent until told otherwise."""
    client = redis.Redis.from_url(proxy.url)
    assert client.set("k", json.dumps({"a": 1})) and json.loads(client.get("k")) == {"a": 1}
    client.close()


def test_a_connection_cut_right_after_the_registration_still_lists_and_counts_once(proxy, direct):
    """The step before the transaction: the names' SADD ran, its answer was
    lost; the retry registers again (idempotent) and counts the event."""
    store = _through(proxy)
    proxy.cut_after(b"$4\r\nSADD\r\n")
    assert store.track(ev("registered", "u1", event="signup")) == COUNTED
    assert proxy.cuts == 1
    assert direct.experiment_names("ns") == ["registered"]
    assert direct.experiment("ns", "registered").count("signup", "A") == 1
    store.client.close()
