"""Slow clients cannot starve ``lamed serve --workers 2``: 64 connections
that dribble their headers or their body a byte every 0.5 s hold sockets,
not threads, while another client's /track requests are answered as usual;
each slow connection is cut once its request has taken the deadline."""

from __future__ import annotations

import os
import socket
import threading
import time
from urllib.parse import urlencode

import pytest
from conftest import API_KEY, http
from test_serve_workers import Served

from lamed.cli.serve import REQUEST_DEADLINE_SECONDS

SLOW_CLIENTS = 64
DRIBBLE_SECONDS = 0.5

# What a slow client sends at once, then the byte it repeats.
SLOW_HEADERS = (b"GET /track?experiment=slow&variant=a&event=participate&uuid=s HTTP/1.1\r\nHost: x\r\n", b"X")
SLOW_BODY = (
    b"POST /track HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{",
    b" ",
)


class Dribblers:
    """``count`` connections, each sending ``start`` and then one byte of
    ``repeat`` every DRIBBLE_SECONDS until stopped or cut by the server."""

    def __init__(self, port: int, count: int, start: bytes, repeat: bytes) -> None:
        self.sockets = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(count)]
        for connection in self.sockets:
            connection.sendall(start)
        self.cut_after: list[float] = []
        self.started = time.monotonic()
        self._repeat = repeat
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._dribble, daemon=True)
        self._thread.start()

    def _dribble(self) -> None:
        alive = list(self.sockets)
        while alive and not self._stop.wait(DRIBBLE_SECONDS):
            for connection in list(alive):
                try:
                    connection.sendall(self._repeat)
                except OSError:  # the server cut it
                    self.cut_after.append(time.monotonic() - self.started)
                    alive.remove(connection)

    def wait_until_all_cut(self, timeout: float) -> None:
        self._thread.join(timeout)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        for connection in self.sockets:
            connection.close()


@pytest.fixture
def served(redis_url):
    env = {**os.environ, "LAMED_REDIS_URL": redis_url, "LAMED_API_KEY": API_KEY}
    server = Served(env, workers=2)
    yield server
    server.stop()


@pytest.mark.parametrize("slow_part", [SLOW_HEADERS, SLOW_BODY], ids=["headers", "body"])
def test_slow_clients_do_not_stop_other_clients(served, slow_part):
    slow = Dribblers(served.port, SLOW_CLIENTS, *slow_part)
    try:
        time.sleep(1.0)  # every slow connection accepted and dribbling
        for number in range(50):
            query = urlencode({"experiment": "fast", "variant": "a", "event": "participate", "uuid": f"u{number}"})
            started = time.monotonic()
            response = http("GET", f"{served.url}/track?{query}")
            took = time.monotonic() - started
            assert (response.status, response.json()["status"]) == (200, "counted")
            assert took < 1.0, f"request {number} took {took:.2f} s beside {SLOW_CLIENTS} slow clients"
        assert not slow.cut_after, "a slow client was cut before its deadline"
    finally:
        slow.close()


def test_a_slow_connection_is_cut_after_the_deadline(served):
    slow = Dribblers(served.port, 4, *SLOW_HEADERS)
    try:
        slow.wait_until_all_cut(REQUEST_DEADLINE_SECONDS + 5)
        assert len(slow.cut_after) == 4
        # Cut within the deadline and the once-a-second check (and the
        # dribbler's own half-second until it notices).
        assert all(REQUEST_DEADLINE_SECONDS - 1 <= after <= REQUEST_DEADLINE_SECONDS + 3 for after in slow.cut_after)
    finally:
        slow.close()
