"""The batching adapter (``lamed snippet --batch``) with the real, unmodified
``alephbet`` npm bundle in headless Chromium, reporting through a recording
proxy to a ``lamed serve`` on loopback (another origin: CORS for real)."""

from __future__ import annotations

import functools
import http.server as http_server
import json
import threading
import urllib.error
import urllib.request

import pytest
from conftest import API_KEY, http
from test_alephbet_browser import ALEPHBET, QuietFiles, lamed_serve, wait_for  # noqa: F401 (a fixture)

from lamed.dashboard.snippet import batch_adapter_script

pytestmark = pytest.mark.browser

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><script src="/alephbet.min.js"></script>
<script src="/lamed-batch.js"></script></head>
<body><button id="go">Go</button>
<script>
  const settings = new URLSearchParams(location.search);
  const adapter = new LamedBatchAdapter("TRACK_URL", "batch", {
    maxEvents: 10, maxSeconds: Number(settings.get("seconds") || 60), leaseSeconds: Number(settings.get("lease") || 30),
  });
  const experiments = ["checkout flow", "hero image"].map(name => new AlephBet.Experiment({
    name: name,
    variants: {a: {activate: () => {}}, b: {activate: () => {}}},
    tracking_adapter: adapter,
  }));
  window.complete = (goals) => experiments.forEach(experiment => goals.forEach(
    goal => { const g = new AlephBet.Goal(goal); experiment.add_goal(g); g.complete(); }));
  window.queued = () => JSON.parse(localStorage.getItem("_lamed_batch_queue") || "[]").length;
</script></body></html>
"""
GOALS = ["viewed", "clicked", "signed up", "paid"]


class RecordingProxy(http_server.BaseHTTPRequestHandler):
    """Forwards /track to lamed serve and records every request's events and
    answers; ``fail_after_forwarding`` answers 503 once the server has counted."""

    upstream = ""
    seen: list = []
    fail_after_forwarding = 0

    def do_POST(self):  # noqa: N802 - stdlib naming
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        request = urllib.request.Request(
            self.upstream + self.path, data=body, method="POST",
            headers={"Content-Type": self.headers.get("Content-Type", "")},
        )  # fmt: skip
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                status, reply = answer.status, answer.read()
        except urllib.error.HTTPError as error:
            status, reply = error.code, error.read()
        events = json.loads(body)["events"]
        statuses = [result["status"] for result in json.loads(reply).get("results", [])]
        cls = type(self)
        cls.seen.append({"uuids": [event["uuid"] for event in events], "statuses": statuses,
                         "content_type": self.headers.get("Content-Type")})  # fmt: skip
        if cls.fail_after_forwarding:
            cls.fail_after_forwarding -= 1
            status, reply = 503, b'{"error": "storage unavailable, retry", "field": null}'
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def do_OPTIONS(self):  # noqa: N802 - a preflight would be a bug: text/plain needs none
        type(self).seen.append({"preflight": True})
        self.send_response(204)
        self.end_headers()

    def log_message(self, format, *args):  # noqa: A002
        pass


@pytest.fixture
def proxy(lamed_serve):  # noqa: F811 (the imported fixture)
    handler = type("Proxy", (RecordingProxy,), {"upstream": lamed_serve, "seen": [], "fail_after_forwarding": 0})
    server = http_server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    handler.url = f"http://127.0.0.1:{server.server_port}"
    yield handler
    server.shutdown()
    server.server_close()


@pytest.fixture
def site(tmp_path, proxy):
    (tmp_path / "index.html").write_text(PAGE.replace("TRACK_URL", proxy.url + "/track"))
    (tmp_path / "alephbet.min.js").write_bytes(ALEPHBET.read_bytes())
    (tmp_path / "lamed-batch.js").write_text(batch_adapter_script())  # what `lamed snippet --batch` prints
    handler = functools.partial(QuietFiles, directory=str(tmp_path))
    server = http_server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/index.html"
    server.shutdown()
    server.server_close()


def counts(api_url: str) -> dict:
    """(experiment, event) -> count, over both variants."""
    found = {}
    for name in ("checkout flow", "hero image"):
        response = http("GET", f"{api_url}/experiment?namespace=batch&experiment={name.replace(' ', '+')}",
                        headers={"x-api-key": API_KEY})  # fmt: skip
        assert response.status == 200, response.body
        for goal in response.json():
            found[name, goal["goal"]] = sum(row["successes"] for row in goal["results"])
            found[name, "participate"] = sum(row["trials"] for row in goal["results"])
    return found


def sent_uuids(proxy) -> list:
    return [uuid for request in proxy.seen for uuid in request.get("uuids", [])]


def test_ten_events_of_two_experiments_in_at_most_two_requests(page, site, proxy, lamed_serve):  # noqa: F811
    page.goto(site)
    page.evaluate("goals => complete(goals)", GOALS)  # 2 participations + 2 × 4 goals
    assert wait_for(lambda: page.evaluate("queued()") == 0), proxy.seen
    assert len(proxy.seen) <= 2 and not any(request.get("preflight") for request in proxy.seen), proxy.seen
    assert all(request["content_type"].startswith("text/plain") for request in proxy.seen)
    assert len(sent_uuids(proxy)) == 10 and all(s == "counted" for r in proxy.seen for s in r["statuses"])
    assert counts(lamed_serve) == {(name, event): 1 for name in ("checkout flow", "hero image")
                                   for event in ["participate", *GOALS]}  # fmt: skip


def test_a_reload_while_events_are_queued_sends_them_once_and_counts_them_once(page, site, proxy, lamed_serve):  # noqa: F811
    page.goto(site + "?lease=4")
    page.evaluate("complete(['viewed'])")  # 4 events: fewer than 10, and 60 s to go
    assert page.evaluate("queued()") == 4 and proxy.seen == []
    page.reload()  # pagehide: the batch goes with keepalive; the new page finds it leased
    assert wait_for(lambda: len(proxy.seen) == 1)
    page.wait_for_timeout(1500)
    assert len(proxy.seen) == 1, "the reloaded page sent the leased batch again at once"
    (first,) = proxy.seen
    assert len(first["uuids"]) == 4 and first["statuses"] == ["counted"] * 4
    # The old page never saw that answer: after the lease the new page sends the
    # items again, the server answers duplicate, and they leave the queue.
    assert wait_for(lambda: page.evaluate("queued()") == 0, timeout=15), proxy.seen
    assert [sorted(request["uuids"]) for request in proxy.seen] == [sorted(first["uuids"])] * 2
    assert proxy.seen[1]["statuses"] == ["duplicate"] * 4
    expected = {(name, event): 1 for name in ("checkout flow", "hero image") for event in ("participate", "viewed")}
    assert counts(lamed_serve) == expected


def test_offline_and_back_loses_nothing_and_counts_nothing_twice(browser, site, proxy, lamed_serve):  # noqa: F811
    context = browser.new_context()
    page = context.new_page()
    page.goto(site)
    context.set_offline(True)
    page.evaluate("goals => complete(goals)", GOALS)
    page.wait_for_timeout(1500)
    assert page.evaluate("queued()") == 10 and proxy.seen == []
    # Back online; the server counts the batch, but the answer the page gets is a 503.
    proxy.fail_after_forwarding = 1
    context.set_offline(False)
    assert wait_for(lambda: page.evaluate("queued()") == 0, timeout=15), proxy.seen
    assert [request["statuses"] for request in proxy.seen] == [["counted"] * 10, ["duplicate"] * 10]
    assert sent_uuids(proxy)[:10] == sent_uuids(proxy)[10:]  # every item kept its uuid
    assert counts(lamed_serve) == {(name, event): 1 for name in ("checkout flow", "hero image")
                                   for event in ["participate", *GOALS]}  # fmt: skip
    context.close()


def test_invalid_events_are_dropped_with_a_warning_and_the_rest_kept(page, site, proxy, lamed_serve):  # noqa: F811
    warnings = []
    page.on("console", lambda message: warnings.append(message.text) if message.type == "warning" else None)
    page.goto(site + "?seconds=1")  # 8 events, fewer than 10: sent after a second
    page.evaluate("complete(['x'.repeat(300)])")  # a goal name over the limit: invalid
    page.evaluate("goals => complete(goals)", GOALS[:2])
    assert wait_for(lambda: page.evaluate("queued()") == 0), proxy.seen
    statuses = [status for request in proxy.seen for status in request["statuses"]]
    assert sorted(statuses) == ["counted"] * 6 + ["invalid"] * 2
    assert sum("invalid event dropped" in text for text in warnings) == 2


def test_the_printed_snippet_works_as_pasted(page, tmp_path, proxy, lamed_serve, site):  # noqa: F811
    """`lamed snippet --batch` pasted into a page as it is: the example
    experiment's participation arrives within the adapter's 5 seconds."""
    from click.testing import CliRunner

    from lamed.cli.main import main

    result = CliRunner().invoke(main, ["snippet", "--batch", "--url", proxy.url, "--script-src", "/alephbet.min.js"])
    assert result.exit_code == 0, result.output
    assert f"Track URL (--url): {proxy.url}/track" in result.output
    (tmp_path / "pasted.html").write_text(f"<!doctype html><html><body>{result.stdout}</body></html>")
    page.goto(site.replace("index.html", "pasted.html"))
    assert wait_for(lambda: len(proxy.seen) == 1, timeout=10), proxy.seen
    assert proxy.seen[0]["statuses"] == ["counted"]
