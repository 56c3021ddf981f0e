"""An anonymous client inventing names cannot grow Redis without bound: two
rounds of fresh names, the second adds at most a tenth of the permanent
memory of the first; refusals are 200 ``refused``, never a 5xx; a known
experiment still counts afterwards."""

from __future__ import annotations

import itertools
import json
from urllib.parse import urlencode

import pytest
import redis
from chalice.test import Client
from conftest import API_KEY

from lamed.core.settings import Settings
from lamed.web import runtime

ROUND = 1200
_fresh = itertools.count()


def permanent_bytes(client: redis.Redis) -> int:
    """``MEMORY USAGE`` of every key that never expires (flags expire)."""
    return sum(client.memory_usage(key) or 0 for key in client.scan_iter() if client.ttl(key) == -1)


SPAM = {
    "namespaces": lambda n: {"namespace": f"ns {n}", "experiment": "e", "variant": "A", "event": "participate"},
    "goals": lambda n: {"namespace": "shop", "experiment": "known", "variant": "A", "event": f"goal {n}"},
    "experiments": lambda n: {"namespace": f"ns {n}", "experiment": f"e {n}", "variant": "A", "event": "participate"},
}


def _send(client: Client, fields: dict) -> dict:
    response = client.http.get("/track?" + urlencode({**fields, "uuid": f"u{next(_fresh)}"}))
    assert response.status_code == 200, response.body
    return json.loads(response.body)


@pytest.mark.slow
@pytest.mark.parametrize("kind", SPAM)
def test_fresh_names_stop_growing_redis(redis_url, kind):
    settings = Settings(redis_url=redis_url, api_key=API_KEY)
    runtime.install(settings, runtime.build_store(settings))
    observer = redis.Redis.from_url(redis_url)
    from app import app

    with Client(app) as client:
        known = {"namespace": "shop", "experiment": "known", "variant": "A", "event": "participate"}
        assert _send(client, known)["status"] == "counted"
        grown = []
        for round_number in range(2):
            before = permanent_bytes(observer)
            answers = [_send(client, SPAM[kind](round_number * ROUND + n)) for n in range(ROUND)]
            grown.append(permanent_bytes(observer) - before)
            statuses = {answer["status"] for answer in answers}
            assert statuses <= {"counted", "refused"}
            refusals = [answer for answer in answers if answer["status"] == "refused"]
            assert refusals and all(answer["limit"].startswith("max_") for answer in refusals)
        print(f"\n{kind}: permanent bytes added by two rounds of {ROUND} fresh names: {grown}")
        assert grown[1] <= grown[0] / 10, grown
        assert _send(client, known)["status"] == "counted"  # a legitimate event still counts
    runtime.install(Settings())
    observer.close()
