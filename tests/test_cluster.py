"""The store on a real Redis Cluster: 3 masters + 3 replicas on loopback,
created with ``redis-cli --cluster create``; track, batch, results, delete,
limits, and a master killed mid-load."""

from __future__ import annotations

import random
import subprocess
import threading
import time

import pytest
import redis
from redis.cluster import RedisCluster

from lamed.cli.embedded import RedisServer, free_port
from lamed.core import keys
from lamed.core.counting import COUNTED, DUPLICATE
from lamed.core.errors import LimitExceeded, ReplyError, StoreUnavailable
from lamed.core.events import Event
from lamed.core.settings import Settings
from lamed.store.redis_client import connect
from lamed.store.results import Store

NODE_TIMEOUT_MS = 1000


class LocalCluster:
    """Six cluster-enabled redis-servers joined by ``redis-cli --cluster create``."""

    def __init__(self, size: int = 6) -> None:
        self.nodes = [RedisServer(extra_args=self._node_args()) for _ in range(size)]

    @staticmethod
    def _node_args() -> list:
        # An explicit bus port: the default (port + 10000) may be taken or beyond 65535.
        timeout = str(NODE_TIMEOUT_MS)
        return [
            "--cluster-enabled", "yes", "--cluster-node-timeout", timeout, "--cluster-port", str(free_port()),
            "--enable-debug-command", "yes",  # DEBUG SLEEP stalls a replica
        ]  # fmt: skip

    @property
    def url(self) -> str:
        return f"redis+cluster://127.0.0.1:{self.nodes[0].port}"

    def start(self) -> LocalCluster:
        for node in self.nodes:
            node.start()
        addresses = [f"127.0.0.1:{node.port}" for node in self.nodes]
        subprocess.run(
            ["redis-cli", "--cluster", "create", *addresses, "--cluster-replicas", "1", "--cluster-yes"],
            check=True,
            capture_output=True,
            timeout=60,
        )
        self.wait_until_ok(self.nodes)
        return self

    def wait_until_ok(self, nodes, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(self._state_ok(node) for node in nodes):
                return
            time.sleep(0.1)
        raise AssertionError("cluster did not reach cluster_state:ok")

    @staticmethod
    def _state_ok(node: RedisServer) -> bool:
        """Slots covered, and a replica in sync (else it cannot take over)."""
        with redis.Redis(port=node.port, socket_timeout=1) as client:
            info = client.execute_command("CLUSTER", "INFO").decode()
            replication = client.info("replication")
        synced = replication["role"] == "master" or replication.get("master_link_status") == "up"
        return "cluster_state:ok" in info and synced

    def master_of(self, key: bytes) -> RedisServer:
        with RedisCluster(host="127.0.0.1", port=self.nodes[0].port) as client:
            port = client.get_node_from_key(key).port
        return next(node for node in self.nodes if node.port == port)

    def replica_of(self, master: RedisServer) -> RedisServer:
        with redis.Redis(port=master.port) as client:
            port = int(client.info("replication")["slave0"]["port"])
        return next(node for node in self.nodes if node.port == port)

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


@pytest.fixture(scope="module")
def cluster():
    started = LocalCluster().start()
    yield started
    started.stop()


@pytest.fixture
def cluster_store(cluster):
    client = connect(cluster.url, 0.5)
    client.flushall()
    built = Store(client, Settings(watch_retries=5))
    yield built
    client.close()


def _event(experiment: str, uuid: str, variant: str = "A", event: str = "participate") -> Event:
    return Event("ns:{x}", experiment, variant, event, uuid)


def test_cluster_url_is_accepted_by_settings_and_builds_a_cluster_client(cluster):
    settings = Settings(redis_url=cluster.url)
    client = connect(settings.redis_url)
    assert isinstance(client, RedisCluster)
    client.close()


def test_track_counts_once_per_event_across_slots(cluster_store):
    experiments = [f"exp {i}" for i in range(12)]  # many hash tags, so several masters
    flags = [keys.DEFAULT_KEYS.flag(*_event(name, "u")) for name in experiments]
    assert len({cluster_store.client.get_node_from_key(flag).port for flag in flags}) > 1
    for name in experiments:
        assert cluster_store.track(_event(name, "u1")) == COUNTED
        assert cluster_store.track(_event(name, "u1")) == DUPLICATE
        assert cluster_store.track(_event(name, "u2", "B")) == COUNTED
    counts = cluster_store.results("ns:{x}", experiments)
    assert [(c.count("participate", "A"), c.count("participate", "B")) for c in counts] == [(1, 1)] * 12
    assert cluster_store.experiment_names("ns:{x}") == sorted(experiments)
    assert cluster_store.namespaces() == ["ns:{x}"]


def test_every_counting_exec_waits_for_a_replica(cluster, cluster_store):
    """WAIT 1 goes with each EXEC, so a counted event is on a replica."""

    def waits() -> int:
        total = 0
        for node in cluster.nodes:
            with redis.Redis(port=node.port) as client:
                total += client.info("commandstats").get("cmdstat_wait", {}).get("calls", 0)
        return total

    before = waits()
    for index in range(5):
        assert cluster_store.track(_event(f"durable {index}", "u1")) == COUNTED
    # A duplicate's WAIT goes in the same round trip too: whether the flag exists is known only from its reply
    assert cluster_store.track(_event("durable 0", "u1")) == DUPLICATE
    assert waits() - before == 6


def test_batch_spanning_masters_is_split_by_slot(cluster_store):
    batch = [_event(f"exp {i % 7}", f"user {i % 40}", "AB"[i % 2]) for i in range(120)]
    outcomes = cluster_store.track_many(batch)
    distinct = set(batch)
    assert outcomes.count(COUNTED) == len(distinct)
    assert cluster_store.track_many(batch) == [DUPLICATE] * len(batch)
    counts = cluster_store.results("ns:{x}", [f"exp {i}" for i in range(7)])
    assert sum(sum(c.totals.values()) for c in counts) == len(distinct)


@pytest.mark.parametrize("track_mode", ["watch", "lua"])
def test_values_are_summed_once_per_distinct_uuid_under_concurrent_resends(cluster, track_mode):
    """Six writers resend 240 valued events (80 uuids over 8 experiments on
    several masters, each uuid sent three times with different values): each
    uuid counts once, and the sums are those of the values that counted."""
    from concurrent.futures import ThreadPoolExecutor

    from lamed.core.events import check_value

    client = connect(cluster.url, 0.5)
    client.flushall()
    settings = Settings(watch_retries=50, track_mode=track_mode)
    sends = [
        Event("ns", f"shop {n % 8}", "AB"[n % 2], "buy", f"u{n % 80}", check_value(f"{(n * 37) % 500 - 100}.25"))
        for n in range(240)
    ]

    def send(seed: int) -> list:
        store, order = Store(connect(cluster.url, 0.5), settings), random.Random(seed).sample(sends, len(sends))
        size = 1 + seed % 4
        found = []
        for start in range(0, len(order), size):
            chunk = order[start : start + size]
            found += zip(chunk, _retry_until(time.monotonic() + 20, lambda chunk=chunk: store.track_many(chunk)))
        store.client.close()
        return found

    with ThreadPoolExecutor(6) as pool:
        outcomes = [pair for found in pool.map(send, range(6)) for pair in found]
    counted = [event for event, outcome in outcomes if outcome == COUNTED]
    assert sorted(event.uuid for event in counted) == sorted(f"u{n}" for n in range(80))
    reader = Store(client, settings)
    results = reader.results("ns", [f"shop {n}" for n in range(8)])
    assert sum(c.value_sum("buy", v) for c in results for v in "AB") == sum(e.value for e in counted)
    squares = sum(c.value_sum_of_squares("buy", v) for c in results for v in "AB")
    assert squares == sum(e.value**2 for e in counted)
    assert len({client.get_node_from_key(reader.keys.values_key("ns", f"shop {n}")).port for n in range(8)}) > 1
    client.close()


def test_delete_on_cluster(cluster_store):
    cluster_store.track(_event("gone", "u1"))
    assert cluster_store.delete("ns:{x}", "gone") is True
    assert cluster_store.experiment("ns:{x}", "gone").is_empty
    assert "gone" not in cluster_store.experiment_names("ns:{x}")
    assert cluster_store.delete("ns:{x}", "gone") is False


def test_limits_on_cluster(cluster):
    client = connect(cluster.url, 0.5)
    client.flushall()
    limits = {"max_experiments_per_namespace": 3, "max_variants_per_experiment": 2, "max_namespaces": 2}
    limited = Store(client, Settings(**limits))
    for name in ("a", "b", "c"):
        limited.track(_event(name, "u"))
    refused = limited.track(_event("d", "u"))
    assert isinstance(refused, LimitExceeded) and refused.setting == "max_experiments_per_namespace"
    limited.track(_event("a", "u", "B"))
    refused = limited.track(_event("a", "u", "C"))
    assert isinstance(refused, LimitExceeded) and refused.setting == "max_variants_per_experiment"
    assert limited.track(Event("ns2", "e", "A", "participate", "u")) == "counted"
    refused = limited.track(Event("ns3", "e", "A", "participate", "u"))  # a third namespace, on any slot
    assert isinstance(refused, LimitExceeded) and refused.setting == "max_namespaces"
    assert limited.experiment("ns3", "e").is_empty and limited.experiment("ns", "d").is_empty
    client.close()


def _send_until_acknowledged(store: Store, event: Event, deadline: float, unavailable: list) -> str:
    """What a client does: resend on 503 until it gets an answer."""
    while True:
        try:
            return store.track(event)
        except StoreUnavailable:
            unavailable.append(event)
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _retry_until(deadline: float, operation):
    while True:
        try:
            return operation()
        except StoreUnavailable:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def test_master_killed_mid_load_counts_each_distinct_event_once():
    """Kill -9 a master while four writers send events (with resends) to
    every master; after the replica takes over, every distinct event is
    counted exactly once."""
    with_cluster = LocalCluster().start()
    try:
        stores = [Store(connect(with_cluster.url, 0.5)) for _ in range(4)]
        experiments = [f"failover {i}" for i in range(9)]
        victim = with_cluster.master_of(keys.DEFAULT_KEYS.flag(*_event(experiments[0], "x")))
        sent: list = [set() for _ in stores]
        unavailable: list = []
        errors: list = []
        deadline = time.monotonic() + 40

        def writer(index: int) -> None:
            rng = random.Random(index)
            try:
                for n in range(300):
                    event = _event(rng.choice(experiments), f"w{index}-{n}", rng.choice("AB"))
                    _send_until_acknowledged(stores[index], event, deadline, unavailable)
                    sent[index].add(event)
                    if n % 5 == 0:  # a resend of an acknowledged event: never counted twice
                        assert _send_until_acknowledged(stores[index], event, deadline, unavailable) == DUPLICATE
            except BaseException as error:  # reported by the main thread
                errors.append(error)

        threads = [threading.Thread(target=writer, args=(i,)) for i in range(len(stores))]
        for thread in threads:
            thread.start()
        while sum(map(len, sent)) < 300 and any(t.is_alive() for t in threads):
            time.sleep(0.01)
        victim.process.kill()
        killed_at = sum(map(len, sent))
        for thread in threads:
            thread.join(60)
        assert not errors, errors[:3]
        distinct = set().union(*sent)
        totals = {}
        for event in distinct:
            totals[(event.experiment, event.variant)] = totals.get((event.experiment, event.variant), 0) + 1
        counts = _retry_until(deadline, lambda: stores[0].results("ns:{x}", experiments))
        measured = {(c.name, v): c.count("participate", v) for c in counts for v in "AB"}
        assert measured == {key: totals.get(key, 0) for key in measured}
        assert sum(measured.values()) == len(distinct) == 1200
        print(
            f"failover: master killed after {killed_at} events; {len(distinct)} distinct events counted once; "
            f"{len(unavailable)} answers were 503 then retried"
        )
        assert unavailable, "the kill should have been noticed by some writer"
    finally:
        with_cluster.stop()


def test_a_master_without_replicas_is_not_waited_for():
    """WAIT 1 on a master with no replica would stall every write for its
    whole timeout: it is sent only where a replica exists."""
    from types import SimpleNamespace

    from lamed.store.cluster import ClusterNodes

    replicas = {"lonely": 0, "backed": 1}
    node_for_key = {b"k1": "lonely", b"k2": "backed"}

    def node(name):
        info = lambda section: {"connected_slaves": replicas[name]}  # noqa: E731
        return SimpleNamespace(name=name, redis_connection=SimpleNamespace(info=info))

    client = SimpleNamespace(get_node_from_key=lambda key: node(node_for_key[key]))
    nodes = ClusterNodes(client)
    assert nodes.replicas_to_wait_for(b"k1") == 0
    assert nodes.replicas_to_wait_for(b"k2") == 1


@pytest.mark.parametrize("prefix", ["lamed:", "shop:ab:"])
def test_every_key_is_under_the_prefix_on_every_node(cluster, prefix):
    from conftest import API_KEY, scanned_keys, write_through_every_path

    client = connect(cluster.url, 0.5)
    client.flushall()
    client.close()
    write_through_every_path(Settings(redis_url=cluster.url, api_key=API_KEY, key_prefix=prefix))
    found = [key for node in cluster.nodes for key in scanned_keys(node.port)]
    assert len(found) > 10
    assert [key for key in found if not key.startswith(prefix.encode())] == []


def test_fresh_namespaces_stop_growing_the_cluster(cluster):
    from test_spam import ROUND, permanent_bytes

    client = connect(cluster.url, 0.5)
    client.flushall()
    store = Store(client, Settings())
    masters = [redis.Redis(port=node.port) for node in cluster.nodes]

    def permanent() -> int:
        return sum(permanent_bytes(master) for master in masters if master.info("replication")["role"] == "master")

    grown = []
    for round_number in range(2):
        before = permanent()
        events = [Event(f"ns {round_number * ROUND + n}", "e", "A", "participate", "u") for n in range(ROUND)]
        outcomes = store.track_many(events[:500]) + store.track_many(events[500:1000]) + store.track_many(events[1000:])
        assert any(isinstance(outcome, LimitExceeded) for outcome in outcomes)
        grown.append(permanent() - before)
    print(f"\ncluster namespaces: permanent bytes added by two rounds of {ROUND}: {grown}")
    assert grown[1] <= grown[0] / 10, grown
    client.close()


def test_lua_mode_survives_script_flush_on_a_master_with_replicas(cluster):
    """A master that lost its scripts (SCRIPT FLUSH; every replica a failover
    promotes) answers EVALSHA with NOSCRIPT while WAIT's reply is still on
    the wire: the exchange reads both before it judges, loads the script with
    EVAL and counts: every event answered and counted once."""
    client = connect(cluster.url, 0.5)
    client.flushall()
    store = Store(client, Settings(track_mode="lua"))
    experiments = [f"scripted {i}" for i in range(6)]
    for name in experiments:
        assert store.track(_event(name, "u1")) == COUNTED
    for node in cluster.nodes:
        with redis.Redis(port=node.port) as admin:
            admin.script_flush()
    for name in experiments:
        assert store.track(_event(name, "u2")) == COUNTED
        assert store.track(_event(name, "u2")) == DUPLICATE
        assert store.track_many([_event(name, "u3"), _event(name, "u1")]) == [COUNTED, DUPLICATE]
    counts = store.results("ns:{x}", experiments)
    assert [c.count("participate", "A") for c in counts] == [3] * len(experiments)
    client.close()


@pytest.mark.parametrize("track_mode", ["watch", "lua"])
def test_a_write_no_replica_acknowledged_is_a_503_and_the_retry_a_200(cluster, track_mode):
    """WAIT's answer is read: 0 replicas in time means a failover could lose
    the event, so the answer is a 503; the client's retry finds the flag."""
    client = connect(cluster.url, 0.5)
    client.flushall()
    store = Store(client, Settings(track_mode=track_mode))
    event = _event(f"waited {track_mode}", "u1")
    assert store.track(_event(event.experiment, "u0")) == COUNTED  # connections and limits warm
    replica = cluster.replica_of(cluster.master_of(keys.DEFAULT_KEYS.flag(*event)))
    sleeper = threading.Thread(target=lambda: redis.Redis(port=replica.port).execute_command("DEBUG", "SLEEP", "1"))
    sleeper.start()
    time.sleep(0.2)
    with pytest.raises(StoreUnavailable, match="replica"):
        store.track(event)
    sleeper.join()
    assert _retry_until(time.monotonic() + 10, lambda: store.track(event)) == DUPLICATE
    assert store.experiment("ns:{x}", event.experiment).count("participate", "A") == 2
    client.close()


def test_the_failure_policy_rereads_the_slot_map_on_moved_and_lost_connections_only():
    from types import SimpleNamespace

    from lamed.core.errors import ReplyError
    from lamed.store import cluster as cluster_nodes

    refreshes = []
    client = SimpleNamespace(nodes_manager=SimpleNamespace(initialize=lambda: refreshes.append(1)))
    nodes = cluster_nodes.ClusterNodes(client)
    for untouched in ("WRONGTYPE Operation against a key", "ASK 3999 127.0.0.1:1", "TRYAGAIN Multiple keys", "OOM x"):
        nodes.failed(ReplyError(untouched))
        assert not nodes.retryable(ReplyError(untouched))
    nodes.failed(redis.exceptions.ResponseError("WRONGTYPE Operation against a key"))
    assert refreshes == []
    nodes.failed(ReplyError("MOVED 3999 127.0.0.1:1"))
    assert refreshes == [1]
    nodes.failed(redis.ConnectionError("reset"))  # within the interval: not again
    nodes.failed(ReplyError("MOVED 3999 127.0.0.1:1"))
    assert refreshes == [1]
    nodes._refreshed_at -= cluster_nodes.REFRESH_INTERVAL_SECONDS
    nodes.failed(ConnectionResetError())
    assert refreshes == [1, 1]
    assert nodes.retryable(ReplyError("MOVED 3999 127.0.0.1:1")) and nodes.retryable(redis.TimeoutError())


def test_a_node_lost_mid_pipeline_is_a_lost_connection_not_a_reply():
    """redis-py's cluster pipeline (``raise_on_error=False``) hands back a
    lost node's ConnectionError as its commands' replies: run raises it, so
    the exchange retries it, instead of the caller reading it as a reply."""
    from types import SimpleNamespace

    from lamed.store import cluster as cluster_nodes

    replies = [1, redis.ResponseError("WRONGTYPE Operation against a key"), redis.ConnectionError("reset")]
    pipeline = SimpleNamespace(execute_command=lambda *command: None, execute=lambda raise_on_error: replies)
    nodes = cluster_nodes.ClusterNodes(SimpleNamespace(pipeline=lambda transaction: pipeline))
    with pytest.raises(redis.ConnectionError):
        nodes.run(None, [(b"SCARD", b"a"), (b"SCARD", b"b"), (b"SCARD", b"c")])
    assert nodes.retryable(redis.ConnectionError("reset"))
    replies[2] = 3
    with pytest.raises(ReplyError, match="WRONGTYPE"):  # every reply read; then the first error reply raised
        nodes.run(None, [(b"SCARD", b"a"), (b"SCARD", b"b"), (b"SCARD", b"c")])
