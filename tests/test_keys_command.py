"""``lamed keys``: listing and removing what Lamed holds, on real Redis and
Redis Cluster; nothing outside the prefix is touched."""

from __future__ import annotations

from click.testing import CliRunner
from conftest import API_KEY, scanned_keys, write_through_every_path

from lamed.cli.main import main
from lamed.core.settings import Settings
from lamed.store.redis_client import connect


def run(redis_url: str, prefix: str, *args: str):
    env = {"LAMED_REDIS_URL": redis_url, "LAMED_KEY_PREFIX": prefix, "LAMED_API_KEY": API_KEY}
    return CliRunner().invoke(main, ["keys", *args], env=env)


def exercise(url: str, prefix: str, ports: list[int]) -> None:
    connect(url, 1.0).set(b"other-app:keep", b"1")  # another application's key
    write_through_every_path(Settings(redis_url=url, api_key=API_KEY, key_prefix=prefix))
    listed = run(url, prefix)
    assert listed.exit_code == 0, listed.output
    assert "alephbet  exp" in listed.output and "dedup flags" in listed.output
    removed = run(url, prefix, "remove", "--namespace", "alephbet", "--yes")
    assert removed.exit_code == 0, removed.output
    left = [key for port in ports for key in scanned_keys(port) if key.startswith(prefix.encode())]
    assert left and all(b":counts:" not in key and b":variants:" not in key for key in left)  # its flags expire
    assert "alephbet  exp" not in run(url, prefix).output
    refused = CliRunner().invoke(main, ["keys", "remove", "--all"], input="n\n", env={"LAMED_REDIS_URL": url})
    assert refused.exit_code == 1 and "Aborted" in refused.output  # asks first
    everything = run(url, prefix, "remove", "--all", "--yes")
    assert everything.exit_code == 0 and f"under {prefix!r}" in everything.output
    remaining = [key for port in ports for key in scanned_keys(port)]
    assert remaining and all(key == b"other-app:keep" for key in remaining)


def test_keys_lists_and_removes_on_redis(redis_server, redis_url):
    exercise(redis_url, "shop:ab:", [redis_server.port])


def test_keys_lists_and_removes_on_redis_cluster():
    from test_cluster import LocalCluster

    cluster = LocalCluster().start()
    try:
        masters = [node.port for node in cluster.nodes]
        exercise(cluster.url, "lamed:", masters)
    finally:
        cluster.stop()
