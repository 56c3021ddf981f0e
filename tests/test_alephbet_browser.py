"""The real client: the unmodified ``alephbet`` npm package in headless
Chromium, its LamedAdapter pointed at a ``lamed serve`` on loopback."""

import functools
import http.server as http_server
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from urllib.parse import quote

import pytest
from conftest import API_KEY, ROOT, http

from lamed.cli.embedded import free_port

pytestmark = pytest.mark.browser

ALEPHBET = ROOT / "node_modules" / "alephbet" / "dist" / "alephbet.min.js"

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><script src="/alephbet.min.js"></script></head>
<body><button id="buy">Buy</button>
<script>
  const adapter = new AlephBet.LamedAdapter("TRACK_URL", "alephbet");
  const experiment = new AlephBet.Experiment({
    name: "my a/b test",
    variants: {
      red: {activate: () => { document.body.dataset.variant = "red"; }},
      blue: {activate: () => { document.body.dataset.variant = "blue"; }},
    },
    tracking_adapter: adapter,
  });
  const goal = new AlephBet.Goal("button clicked");
  experiment.add_goal(goal);
  document.getElementById("buy").addEventListener("click", () => goal.complete());
</script></body></html>
"""


@pytest.fixture
def lamed_serve(redis_url):
    """``lamed serve`` as a user runs it, in its own process."""
    port = free_port()
    env = {**os.environ, "LAMED_REDIS_URL": redis_url, "LAMED_API_KEY": API_KEY}
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "lamed"), "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if http("GET", url + "/health", timeout=1).status == 200:
                break
        except OSError:
            time.sleep(0.1)
    else:
        process.kill()
        pytest.fail("lamed serve did not start: " + process.stdout.read())
    yield url
    process.terminate()
    process.wait(10)


class LossyProxy(http_server.BaseHTTPRequestHandler):
    """Forwards /track to lamed serve and records each answer; while ``drop``
    is set it then hangs up instead of answering, as a flaky network would."""

    upstream = ""
    seen: list = []
    drop = False

    def do_GET(self):  # noqa: N802 - stdlib naming
        with urllib.request.urlopen(self.upstream + self.path, timeout=10) as answer:
            body, status, headers = answer.read(), answer.status, answer.headers
        type(self).seen.append((self.path, status, json.loads(body)["status"]))
        if type(self).drop:
            self.close_connection = True
            return
        self.send_response(status)
        for name in ("Content-Type", "Access-Control-Allow-Origin", "Cache-Control"):
            self.send_header(name, headers[name])
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):  # noqa: A002
        pass


@pytest.fixture
def proxy(lamed_serve):
    handler = type("Proxy", (LossyProxy,), {"upstream": lamed_serve, "seen": [], "drop": False})
    server = http_server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    handler.url = f"http://127.0.0.1:{server.server_port}"
    yield handler
    server.shutdown()
    server.server_close()


@pytest.fixture
def site(tmp_path, proxy):
    """The experimenter's page, on another origin than the API (CORS for real)."""
    (tmp_path / "index.html").write_text(PAGE.replace("TRACK_URL", proxy.url + "/track"))
    (tmp_path / "alephbet.min.js").write_bytes(ALEPHBET.read_bytes())
    handler = functools.partial(QuietFiles, directory=str(tmp_path))
    server = http_server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/index.html"
    server.shutdown()
    server.server_close()


class QuietFiles(http_server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002
        pass


def results(api_url: str) -> dict:
    response = http("GET", f"{api_url}/experiments/{quote('my a/b test', safe='')}", headers={"x-api-key": API_KEY})
    assert response.status == 200, response.body
    return response.json()


def queue_length(page) -> int:
    """Events Alephbet still means to (re)send: its queue in localStorage."""
    # Alephbet keeps one JSON object under "alephbet"; the queue inside is a JSON string.
    return page.evaluate("JSON.parse(JSON.parse(localStorage.getItem('alephbet') || '{}')._lamed_queue || '[]').length")


def wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_participation_and_goal_count_once_through_lost_answers_and_a_reload(page, site, proxy, lamed_serve):
    """lamed serve stores each event but the browser never gets the answer, so
    Alephbet keeps the events queued and resends them with its next event.
    After a reload the same requests come again. Lamed answers every resend
    200 and counts nothing twice."""
    proxy.drop = True
    page.goto(site)
    variant = page.evaluate("document.body.dataset.variant")
    assert variant in ("red", "blue")
    assert wait_for(lambda: len(proxy.seen) == 1 and queue_length(page) == 1)

    proxy.drop = False
    page.click("#buy")  # the goal, and the queued participation again
    assert wait_for(lambda: queue_length(page) == 0), "the queue never drained"
    assert wait_for(lambda: len(proxy.seen) == 3)

    # A reload: the variant is remembered, so the client itself sends nothing
    # new; then every request it made is sent again from the reloaded page.
    page.reload()
    sent = [proxy.url + path for path, _, _ in proxy.seen]
    replies = page.evaluate("urls => Promise.all(urls.map(u => fetch(u, {keepalive: true}).then(r => r.json())))", sent)
    assert [reply["status"] for reply in replies] == ["duplicate"] * 3

    statuses = sorted(status for _, _, status in proxy.seen[:3])
    assert statuses == ["counted", "counted", "duplicate"]
    assert all(code == 200 for _, code, _ in proxy.seen)
    assert all("my+a%2Fb+test" in url for url in sent)  # the adapter's own encoding, spaces as +

    detail = results(lamed_serve)
    assert detail["variants"] == [{"label": variant, "trials": 1}]
    assert detail["goals"] == [{"goal": "button clicked", "results": [{"label": variant, "successes": 1, "trials": 1}]}]


def test_a_second_visitor_adds_one_trial(browser, site, lamed_serve):
    for _ in range(2):
        context = browser.new_context()
        visitor = context.new_page()
        visitor.goto(site)
        assert wait_for(lambda v=visitor: queue_length(v) == 0)
        context.close()
    detail = results(lamed_serve)
    assert sum(row["trials"] for row in detail["variants"]) == 2
