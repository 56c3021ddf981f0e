"""A message when an experiment decides: a loopback HTTP receiver, a real
Redis, ``lamed notify`` as a process, ``lamed serve`` with two workers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from conftest import API_KEY
from test_decisions import define, put_counts
from test_serve_workers import SERVE, Served, _workers

from lamed.core.settings import Settings
from lamed.web import notify, runtime
from lamed.web.decisions import decisions_document, experiment_views
from lamed.web.lambda_handler import NOTIFY_EVENT, handler

NAMESPACE = "shop"
RUNNING = {"A": (10_000, 480), "B": (10_100, 530)}  # keep running
SHIPS = {"A": (10_000, 500), "B": (10_000, 700)}  # ship B
KEEPS = {"A": (40_000, 2000), "B": (40_000, 1800)}  # keep A


class Receiver:
    """A webhook on loopback: records every POST; answers ``statuses`` in
    turn (then 200), after ``delay`` seconds."""

    def __init__(self, statuses=(), delay: float = 0.0) -> None:
        self.posts: list[dict] = []
        self.statuses = list(statuses)
        self.delay = delay
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                time.sleep(receiver.delay)
                with lock:
                    receiver.posts.append({"path": self.path, "type": self.headers["Content-Type"], **json.loads(body)})
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args) -> None:
                pass

        lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/lamed"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def about(self, experiment: str) -> list[dict]:
        return [post for post in self.posts if experiment in json.dumps(post, ensure_ascii=False)]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    receiver = Receiver()
    yield receiver
    receiver.close()


def lamed_notify(redis_url: str, receiver: Receiver, notify_format: str) -> subprocess.CompletedProcess:
    """``lamed notify`` as its own process, configured by environment variables."""
    env = {
        **os.environ, "LAMED_REDIS_URL": redis_url, "LAMED_NOTIFY_URL": receiver.url,
        "LAMED_NOTIFY_FORMAT": notify_format, "LAMED_PUBLIC_URL": "https://ab.example/api",
    }  # fmt: skip
    command = [sys.executable, "-c", "from lamed.cli.main import main; main()", "notify"]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("notify_format", ["slack", "json"])
def test_lamed_notify_sends_one_post_per_decision(store, redis_url, receiver, notify_format):
    put_counts(store, "checkout", RUNNING)
    put_counts(store, "pricing <b>&</b>", RUNNING)
    first = lamed_notify(redis_url, receiver, notify_format)
    assert first.returncode == 0, first.stderr
    assert "0 sent, 0 to retry, 2 recorded silently" in first.stdout and receiver.posts == []

    put_counts(store, "checkout", SHIPS)
    put_counts(store, "pricing <b>&</b>", KEEPS)
    outputs = [lamed_notify(redis_url, receiver, notify_format) for _ in range(3)]
    assert [done.returncode for done in outputs] == [0, 0, 0], [done.stderr for done in outputs]
    assert "2 sent" in outputs[0].stdout and all("0 sent" in done.stdout for done in outputs[1:])
    assert len(receiver.posts) == 2 and len(receiver.about("checkout")) == 1
    assert {post["path"] for post in receiver.posts} == {"/hooks/lamed"}
    assert {post["type"] for post in receiver.posts} == {"application/json"}

    settings = Settings(redis_url=redis_url)
    views = experiment_views(store, lambda ns, name: None, settings, NAMESPACE)
    decisions = {
        entry["experiment"]: entry["decision"] for entry in decisions_document(NAMESPACE, views)["experiments"]
    }
    checkout, pricing = receiver.about("checkout")[0], receiver.about("pricing")[0]
    if notify_format == "json":
        assert checkout == {
            "path": "/hooks/lamed", "type": "application/json", "namespace": NAMESPACE, "experiment": "checkout",
            "previous": "keep running", "kind": "ship", "decision": decisions["checkout"],
            "dashboard_url": "https://ab.example/api/dashboard/checkout?namespace=shop",
        }  # fmt: skip
        assert (pricing["kind"], pricing["decision"]) == ("keep control", decisions["pricing <b>&</b>"])
        assert pricing["dashboard_url"].startswith("https://ab.example/api/dashboard?experiment=pricing")
    else:
        assert set(checkout) == {"path", "type", "text"}
        assert checkout["text"] == (
            f"*checkout* (namespace shop) is decided: {decisions['checkout']['text']} "
            "<https://ab.example/api/dashboard/checkout?namespace=shop|Open the dashboard>"
        )
        assert pricing["text"].startswith("*pricing &lt;b&gt;&amp;&lt;/b&gt;* (namespace shop) is decided: Keep A:")

    put_counts(store, "checkout", RUNNING)  # and back: one message more
    back = lamed_notify(redis_url, receiver, notify_format)
    assert "1 sent" in back.stdout and len(receiver.about("checkout")) == 2
    if notify_format == "json":
        assert (receiver.posts[-1]["previous"], receiver.posts[-1]["kind"]) == ("ship", "keep running")
    else:
        assert receiver.posts[-1]["text"].startswith("*checkout* (namespace shop) is no longer decided (it was “ship”)")


def test_a_failed_post_is_sent_again_at_the_next_check_then_never_again(store, redis_url):
    receiver = Receiver(statuses=[500])
    try:
        put_counts(store, "checkout", RUNNING)
        assert lamed_notify(redis_url, receiver, "json").returncode == 0
        put_counts(store, "checkout", SHIPS)
        failed = lamed_notify(redis_url, receiver, "json")
        assert failed.returncode == 1 and "not delivered: shop / checkout -> ship" in failed.stdout
        assert "the next check sends them again" in failed.stderr
        delivered = lamed_notify(redis_url, receiver, "json")
        assert delivered.returncode == 0 and "sent: shop / checkout: keep running -> ship" in delivered.stdout
        for _ in range(2):
            assert lamed_notify(redis_url, receiver, "json").returncode == 0
        assert [post["kind"] for post in receiver.posts] == ["ship", "ship"]  # the 500's, then the 200's
    finally:
        receiver.close()


def test_an_unreachable_or_slow_webhook_waits_for_the_next_check(store, redis_url, monkeypatch):
    monkeypatch.setattr(notify, "POST_TIMEOUT_SECONDS", 0.3)
    slow = Receiver(delay=1.0)
    settings = Settings(redis_url=redis_url, notify_url=slow.url, notify_format="json")
    put_counts(store, "checkout", SHIPS)
    try:
        report = notify.check(store, settings)
        assert report.ran and [c.experiment for c in report.failed] == ["checkout"] and not report.sent
    finally:
        slow.close()
    gone = settings.replace(notify_url=slow.url)  # closed: connection refused
    assert [c.experiment for c in notify.check(store, gone).failed] == ["checkout"]
    assert store.client.hgetall(store.keys.notified) == {}
    assert store.client.get(store.keys.notify_lock) is None  # given back after every check


def test_paused_and_stopped_experiments_send_nothing_more(store, redis_url, receiver):
    for name in ("paused one", "stopped one", "running one"):
        put_counts(store, name, RUNNING)
    settings = Settings(redis_url=redis_url, notify_url=receiver.url)
    notify.check(store, settings)
    define(store, "paused one", status="paused")
    define(store, "stopped one", status="stopped", winner="B")
    for name in ("paused one", "stopped one", "running one"):
        put_counts(store, name, SHIPS)
    report = notify.check(store, settings)
    assert [change.experiment for change in report.sent] == ["running one"]
    assert [post["text"].split("*")[1] for post in receiver.posts] == ["running one"]


def test_concurrent_checks_take_turns(store, redis_url):
    """Two checks at once: one holds the lock, the other does nothing."""
    slow = Receiver(delay=0.5)
    settings = Settings(redis_url=redis_url, notify_url=slow.url)
    put_counts(store, "checkout", SHIPS)
    reports = []
    threads = [threading.Thread(target=lambda: reports.append(notify.check(store, settings))) for _ in range(2)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        slow.close()
    assert sorted(report.ran for report in reports) == [False, True] and len(slow.posts) == 1


@pytest.mark.parametrize("notify_format", ["slack", "json"])
def test_two_serve_workers_send_each_message_once(redis_url, receiver, notify_format):
    from lamed.store.redis_client import connect

    client = connect(redis_url, 2.0)
    store = runtime.build_store(Settings(redis_url=redis_url))
    put_counts(store, "checkout", RUNNING)
    put_counts(store, "pricing", RUNNING)
    env = {
        **os.environ, "LAMED_REDIS_URL": redis_url, "LAMED_API_KEY": API_KEY,
        "LAMED_NOTIFY_URL": receiver.url, "LAMED_NOTIFY_INTERVAL_SECONDS": "1", "LAMED_NOTIFY_FORMAT": notify_format,
    }  # fmt: skip
    served = Served(env, workers=2, serve=SERVE)
    try:
        wait_for(lambda: len(client.hgetall(store.keys.notified)) == 2, "the first check")
        put_counts(store, "checkout", SHIPS)
        put_counts(store, "pricing", KEEPS)
        wait_for(lambda: len(receiver.posts) >= 2, "the messages")
        time.sleep(4)  # four more intervals: each worker had its turns
        workers = _workers(served.process.pid, 2)
    finally:
        output = served.stop()
    if notify_format == "json":
        assert sorted((post["experiment"], post["kind"]) for post in receiver.posts) == [
            ("checkout", "ship"), ("pricing", "keep control"),
        ], output  # fmt: skip
    else:
        assert sorted(post["text"].split("*")[1] for post in receiver.posts) == ["checkout", "pricing"], output
    assert len(workers) == 2  # two processes, each checking every interval
    client.close()
    store.client.close()


def wait_for(condition, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.1)


def test_the_lambda_schedule_payload_runs_a_check(store, redis_url, receiver):
    runtime.install(Settings(redis_url=redis_url, notify_url=receiver.url), store)
    put_counts(store, "checkout", SHIPS)
    assert handler(dict(NOTIFY_EVENT), None) == {"lamed-notify": {"ran": True, "sent": 1, "failed": 0}}
    assert handler(dict(NOTIFY_EVENT), None) == {"lamed-notify": {"ran": True, "sent": 0, "failed": 0}}
    runtime.install(Settings(redis_url=redis_url), store)
    assert handler(dict(NOTIFY_EVENT), None)["lamed-notify"]["ran"] is False  # no notify_url: nothing to do
    assert len(receiver.posts) == 1


TRACK_ONLY = r"""
import json, sys
import app
answer = app.handler(json.loads(sys.argv[1]), None)
print(json.dumps({"status": answer["statusCode"],
                  "loaded": sorted(m for m in sys.modules if m.startswith(("lamed.web.notify", "lamed.stats",
                                   "lamed.dashboard", "lamed.web.decisions", "urllib.request")))}))
"""


def test_the_track_path_never_imports_notifications(redis_url):
    from deploy_support import proxy_event

    query = {"experiment": "e", "variant": "a", "event": "participate", "uuid": "u"}
    event = proxy_event("GET", "/track", "/track", query=query)
    env = {"LAMED_REDIS_URL": redis_url, "LAMED_NOTIFY_URL": "https://hooks.example/x", "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", TRACK_ONLY, json.dumps(event)], capture_output=True, text=True,
                          env=env, check=True)  # fmt: skip
    assert json.loads(done.stdout) == {"status": 200, "loaded": []}


@pytest.mark.parametrize(
    "values",
    [{"notify_format": "xml"}, {"notify_interval_seconds": 0}, {"notify_interval_seconds": 8 * 86400},
     {"public_url": "ab.example"}],
)  # fmt: skip
def test_notify_settings_are_checked(values):
    from lamed.core.errors import SettingsError
    from lamed.core.settings import settings_from_mapping

    with pytest.raises(SettingsError, match=next(iter(values))):
        settings_from_mapping(values)


@pytest.mark.parametrize(
    "url, allowed",
    [
        ("https://hooks.slack.com/services/T/B/x", True),
        ("http://127.0.0.1:8080/hook", True),
        ("http://localhost/hook", True),
        ("http://[::1]:9/hook", True),
        ("http://hooks.example/x", False),
        ("http://127.0.0.1.evil.example/x", False),
        ("ftp://127.0.0.1/x", False),
        ("https://", False),
        ("https://hooks.example/ x", False),
    ],
)
def test_notify_url_is_https_or_loopback(url, allowed):
    from lamed.core.errors import SettingsError
    from lamed.core.settings import settings_from_mapping

    if allowed:
        assert settings_from_mapping({"notify_url": url}).notify_url == url
    else:
        with pytest.raises(SettingsError, match="notify_url"):
            settings_from_mapping({"notify_url": url})


def test_deleting_an_experiment_forgets_what_was_notified(store, redis_url, receiver):
    settings = Settings(redis_url=redis_url, notify_url=receiver.url)
    put_counts(store, "checkout", SHIPS)
    put_counts(store, "kept", SHIPS, namespace="other")
    assert len(notify.check(store, settings).sent) == 2
    store.delete(NAMESPACE, "checkout")
    put_counts(store, "checkout", SHIPS)  # started again: its decision is news again
    assert [change.experiment for change in notify.check(store, settings).sent] == ["checkout"]
    from lamed.store.keyspace import remove_namespace

    remove_namespace(store, "other")
    assert list(store.client.hgetall(store.keys.notified)) == [b'["shop","checkout"]']


class LambdaContext:
    def __init__(self, remaining_ms: int) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def test_on_lambda_no_post_starts_that_could_outlast_the_invocation(store, redis_url, receiver):
    runtime.install(Settings(redis_url=redis_url, notify_url=receiver.url), store)
    put_counts(store, "checkout", SHIPS)
    short = handler(dict(NOTIFY_EVENT), LambdaContext(3000))  # 3 s left: less than a POST's timeout and the margin
    assert short == {"lamed-notify": {"ran": True, "sent": 0, "failed": 1}} and receiver.posts == []
    assert handler(dict(NOTIFY_EVENT), LambdaContext(10_000))["lamed-notify"]["sent"] == 1


def test_the_slack_text_reads_well_for_every_change(store, redis_url):
    put_counts(store, "split", {"A": (10_000, 500), "B": (11_000, 700)})  # a sample-ratio mismatch
    settings = Settings(redis_url=redis_url)
    (view,) = experiment_views(store, lambda ns, name: None, settings, NAMESPACE)
    assert view.decision.kind == "check the traffic split"
    texts = [
        notify.slack_text(notify.Change(NAMESPACE, "split", previous, view), None)
        for previous in (None, "keep running")
    ]
    assert texts[0] == texts[1] and texts[0].startswith("*split* (namespace shop) needs attention: Stop and check")
    put_counts(store, "split", RUNNING)
    (view,) = experiment_views(store, lambda ns, name: None, settings, NAMESPACE)
    again = notify.slack_text(notify.Change(NAMESPACE, "split", "check the traffic split", view), None)
    assert again.startswith("*split* (namespace shop) has a sound traffic split again: Keep running: about ")
