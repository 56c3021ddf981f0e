"""A definition change reaches a running ``lamed serve`` (separate process,
real Redis) within the cache TTL, without restart. Measured, not assumed."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
import redis
from conftest import API_KEY, ROOT, http

from lamed.core import keys
from lamed.core.definitions import definition_from_dict
from lamed.core.settings import DEFAULTS
from lamed.store.definitions import DefinitionStore

DEFAULT_CACHE_SECONDS = DEFAULTS.definition_cache_seconds

pytestmark = pytest.mark.slow

ONLY_A = {"variants": {"A": 1, "B": 0}, "status": "running"}
ONLY_B = {"variants": {"A": 0, "B": 1}, "status": "running", "control": "A"}


@pytest.fixture
def served(redis_url):
    """``lamed serve`` in its own process on a free port, default cache TTL."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("LAMED_DEFINITION")}
    # warning: no line per request, since nobody reads the pipe after the URL
    env.update(LAMED_REDIS_URL=redis_url, LAMED_API_KEY=API_KEY, PYTHONUNBUFFERED="1", LAMED_LOG_LEVEL="warning")
    lamed = os.path.join(os.path.dirname(sys.executable), "lamed")
    process = subprocess.Popen(
        [lamed, "serve", "--port", "0"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        yield _wait_for_url(process)
    finally:
        process.terminate()
        process.wait(10)


def _wait_for_url(process) -> str:
    for line in process.stdout:
        if "serving on " in line:
            return line.split("serving on ", 1)[1].split()[0]
    raise AssertionError(f"lamed serve exited with {process.wait()}")


def variant(url: str) -> str:
    return http("GET", f"{url}/assign?experiment=exp&user_id=u1").json()["variant"]


def test_definition_change_reaches_a_running_server_within_the_ttl(served, redis_url):
    definitions = DefinitionStore(redis.Redis.from_url(redis_url), keys.DEFAULT_KEYS)
    definitions.put("alephbet", definition_from_dict("exp", ONLY_A))
    assert variant(served) == "A"  # the server has now cached the definition

    definitions.put("alephbet", definition_from_dict("exp", ONLY_B))
    changed_at = time.monotonic()
    deadline = changed_at + DEFAULT_CACHE_SECONDS + 2
    while variant(served) != "B":
        assert time.monotonic() < deadline, "the change did not propagate within the TTL"
        time.sleep(0.02)
    propagation = time.monotonic() - changed_at
    print(f"\npropagation to a running lamed serve: {propagation:.2f} s (TTL {DEFAULT_CACHE_SECONDS:g} s)")
    assert propagation <= DEFAULT_CACHE_SECONDS + 1  # + polling and request time on a busy machine

    # Stopping takes effect on /track the same way.
    definitions.put("alephbet", definition_from_dict("exp", {**ONLY_B, "status": "stopped", "winner": "B"}))
    track = f"{served}/track?experiment=exp&variant=B&event=participate&uuid="
    stopped_at, uuid = time.monotonic(), 0
    while http("GET", f"{track}{uuid}").json().get("status") != "not_counted":
        assert time.monotonic() < stopped_at + DEFAULT_CACHE_SECONDS + 2
        uuid += 1
        time.sleep(0.02)
    print(f"stop reached /track after {time.monotonic() - stopped_at:.2f} s")
