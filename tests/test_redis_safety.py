"""Redis configured so it cannot drop counts: the eviction policy and memory
checks of preflight and /health against real redis-servers, and a full
Redis under noeviction: 503s, then every event counted once after room is made."""

from __future__ import annotations

import json

import pytest
import redis
from chalice.test import Client
from conftest import API_KEY

from lamed.cli.embedded import RedisServer
from lamed.core.redis_safety import check_memory
from lamed.core.settings import Settings
from lamed.deploy.preflight import _memory_checks
from lamed.web import runtime

KEY = {"x-api-key": API_KEY}


def test_the_verdict_on_info_memory():
    safe = check_memory("r", {"maxmemory": 1000, "used_memory": 10, "maxmemory_policy": "noeviction"})
    assert (safe.failures, safe.warnings, safe.refuses_writes) == ((), (), False)
    assert check_memory("r", {"maxmemory": 0, "used_memory": 10, "maxmemory_policy": "noeviction"}).warnings
    nearly = check_memory("r", {"maxmemory": 1000, "used_memory": 900, "maxmemory_policy": "noeviction"})
    assert "90% used" in nearly.warnings[0] and not nearly.refuses_writes
    full = check_memory("r", {"maxmemory": 1000, "used_memory": 1000, "maxmemory_policy": "noeviction"})
    assert full.refuses_writes
    assert check_memory("r", None).warnings and not check_memory("r", None).failures  # INFO not permitted


@pytest.mark.parametrize("policy, passes", [("noeviction", True), ("volatile-lru", False), ("allkeys-lru", False)])
def test_preflight_and_health_judge_the_eviction_policy(policy, passes):
    with RedisServer(extra_args=["--maxmemory", "100mb", "--maxmemory-policy", policy]) as server:
        settings = Settings(redis_url=server.url, api_key=API_KEY)
        [check] = _memory_checks(settings)
        assert check.ok is passes and (passes or "noeviction" in check.detail), check.line()
        runtime.install(settings, runtime.build_store(settings))
        from app import app

        with Client(app) as client:
            public = client.http.get("/health")
            detailed = json.loads(client.http.get("/health", headers=KEY).body)
        assert public.status_code == 200 and "memory" not in json.loads(public.body)
        assert detailed["memory"][0]["maxmemory_policy"] == policy
        assert bool(detailed["memory"][0]["failures"]) is not passes
        runtime.install(Settings())


def test_a_full_redis_is_503s_and_nothing_is_lost_or_counted_twice_after(tmp_path):
    with RedisServer(extra_args=["--maxmemory", "3mb", "--maxmemory-policy", "noeviction"]) as server:
        settings = Settings(redis_url=server.url, api_key=API_KEY)
        runtime.install(settings, runtime.build_store(settings))
        admin = redis.Redis(port=server.port)
        from app import app

        with Client(app) as client:
            track = "/track?experiment=e&variant=A&event=participate&uuid={}"
            assert client.http.get(track.format("warm")).status_code == 200
            filler = 0
            for size in (10_000, 1_000, 100, 10):  # fill Redis with another app's data until it refuses writes
                while True:  # (smaller and smaller: a refused big write frees its query buffer)
                    try:
                        admin.set(f"other-app:{filler}", b"x" * size)
                    except redis.exceptions.OutOfMemoryError:
                        break
                    filler += 1
            answers = [client.http.get(track.format(f"u{n}")) for n in range(20)]
            refused = [response for response in answers if response.status_code == 503]
            # Redis judges each write on the memory of that moment, which a refused write's freed
            # buffers lower again: a small event may still fit now and then, and is then counted (200).
            assert len(refused) >= 15 and {response.status_code for response in answers} <= {200, 503}
            assert all(response.headers["Retry-After"] == "1" for response in refused)
            assert client.http.get("/health").status_code == 503
            admin.flushdb()  # room again (the counters went too: count from here)
            assert client.http.get("/health").status_code == 200
            retried = [json.loads(client.http.get(track.format(f"u{n}")).body)["status"] for n in range(20)]
            again = [json.loads(client.http.get(track.format(f"u{n}")).body)["status"] for n in range(20)]
        assert retried == ["counted"] * 20 and again == ["duplicate"] * 20
        assert runtime.store().experiment("alephbet", "e").count("participate", "A") == 20
        runtime.install(Settings())


def test_a_user_without_info_is_told_so_and_counting_still_works():
    """An ACL user limited to Lamed's keys and the commands it needs, without INFO."""
    with RedisServer() as server:
        admin = redis.Redis(port=server.port)
        admin.execute_command(
            "ACL", "SETUSER", "lamed", "on", ">secret-password", "~lamed:*",
            "+@read", "+@write", "+@transaction", "+@connection", "+eval", "+evalsha", "+script|load", "-info",
        )  # fmt: skip
        url = f"redis://lamed:secret-password@127.0.0.1:{server.port}/0"
        settings = Settings(redis_url=url, api_key=API_KEY)
        [check] = _memory_checks(settings)
        assert check.ok and check.warning and "INFO is not permitted" in check.detail
        runtime.install(settings, runtime.build_store(settings))
        from app import app

        with Client(app) as client:
            assert client.http.get("/health").status_code == 200
            track = client.http.get("/track?experiment=e&variant=A&event=participate&uuid=u1")
            assert json.loads(track.body) == {"status": "counted"}
        runtime.install(Settings())


def test_health_is_503_while_a_redis_filled_by_another_tenant_refuses_lamed_s_batches():
    """Another application fills a 4 MB noeviction Redis with 10 KB values
    until Redis refuses one: INFO's used_memory then sits below maxmemory
    (the refused value's query buffer is freed again), small writes may
    still pass, and Lamed's batches are refused. /health says so, from the
    margin below maxmemory and from the refusals this process saw."""
    with RedisServer(extra_args=["--maxmemory", "4mb", "--maxmemory-policy", "noeviction"]) as server:
        settings = Settings(redis_url=server.url, api_key=API_KEY)
        runtime.install(settings, runtime.build_store(settings))
        admin = redis.Redis(port=server.port)
        from app import app

        def batch(start: int) -> list:
            return [
                {"experiment": "e", "variant": "A", "event": "participate", "uuid": f"u{start + n}"} for n in range(100)
            ]

        with Client(app) as client:
            post = lambda body: client.http.post(  # noqa: E731
                "/track", body=json.dumps(body), headers={"Content-Type": "application/json"}
            )
            assert post(batch(-100)).status_code == 200
            filler = 0
            while True:
                try:
                    admin.set(f"other-app:{filler}", b"x" * 10_000)
                except redis.exceptions.OutOfMemoryError:
                    break
                filler += 1
            memory = admin.info("memory")
            print(f"filled: used_memory {memory['used_memory']:,} of maxmemory {memory['maxmemory']:,}")
            refused = [post(batch(100 * n)) for n in range(5)]
            assert {response.status_code for response in refused} == {503}
            health = client.http.get("/health")
            assert health.status_code == 503 and json.loads(health.body)["status"] == "full"
            for filler_key in admin.scan_iter("other-app:*"):
                admin.delete(filler_key)
            assert client.http.get("/health").status_code == 200  # room: the write /health tries goes through
            assert all(post(batch(100 * n)).status_code == 200 for n in range(5))
        assert runtime.store().experiment("alephbet", "e").count("participate", "A") == 600
        runtime.install(Settings())


def test_a_refusal_for_memory_is_remembered_for_seconds_and_forgotten_on_a_write(monkeypatch):
    from lamed.core import redis_safety
    from lamed.core.errors import StoreUnavailable

    now = [100.0]
    monkeypatch.setattr(redis_safety.time, "monotonic", lambda: now[0])
    refusals = redis_safety.MemoryRefusals()
    refusals.failed(StoreUnavailable("timed out"))
    assert not refusals.refusing()
    refusals.failed(StoreUnavailable("OOM command not allowed", "OOM"))
    assert refusals.refusing()
    now[0] += redis_safety.REFUSED_RECENTLY_SECONDS
    assert not refusals.refusing()
    refusals.failed(StoreUnavailable("OOM command not allowed", "OOM"))
    refusals.wrote()
    assert not refusals.refusing()
