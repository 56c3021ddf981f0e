"""``lamed serve``: the API on one machine, for development and small sites.

Both modes read HTTP with waitress, which takes in each whole request
(headers and body, in its event loop) before a worker thread sees it: a
client that sends a byte at a time holds a socket, not a thread, and is cut
once its request has taken REQUEST_DEADLINE_SECONDS. The default runs one
process; ``--workers N`` runs N such processes under gunicorn's master
(which forks, watches and restarts them). One HTTP parser, one set of
limits: both modes answer the same bytes the same way. Chosen by measurement
over gunicorn's gthread workers, where eight slow clients stopped every
other request (bench/README.md, "HTTP server").
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

from gunicorn.workers.base import Worker
from waitress import wasyncore
from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser
from waitress.server import TcpWSGIServer
from waitress.task import ThreadedTaskDispatcher

from lamed.cli.embedded import RedisServer
from lamed.core.events import MAX_BODY_BYTES
from lamed.core.settings import Settings
from lamed.web import runtime
from lamed.web.observed import MULTIPROC_ENV, observed_application

THREADS = 8  # per process: requests arrive whole, so threads wait only on Redis (or the timeout of a stalled one)
REQUEST_DEADLINE_SECONDS = 10  # from a request's first byte to its last, however it dribbles
IDLE_SECONDS = 15  # a kept-alive connection with no request in progress
MAX_CONNECTIONS = 1000  # per process; more wait in the listen backlog
MAX_HEADER_BYTES = 64 * 1024
# Bodies up to here reach the app, whose parser answers an oversize one 400
# naming the field; beyond it, waitress refuses with 413 before reading on.
MAX_READ_BODY_BYTES = 4 * MAX_BODY_BYTES
POLL_SECONDS = 1.0

# "Task queue depth is N" on every request that waits for a thread: a
# busy moment, not a fault.
logging.getLogger("waitress.queue").setLevel(logging.ERROR)


def waitress_settings(threads: int = THREADS) -> dict:
    """The waitress adjustments of both modes."""
    return {
        "threads": threads,
        "connection_limit": MAX_CONNECTIONS,
        "channel_timeout": IDLE_SECONDS,
        "cleanup_interval": 1,  # how often deadlines are checked, seconds
        "max_request_header_size": MAX_HEADER_BYTES,
        "max_request_body_size": MAX_READ_BODY_BYTES,
        "backlog": 1024,
        "asyncore_use_poll": True,  # select() stops at 1,024 descriptors
        "ident": "lamed",
        # X-Forwarded-Proto from the proxy in front says https (Secure cookie,
        # HSTS); it is passed on as sent, as gunicorn did.
        "clear_untrusted_proxy_headers": False,
    }


class _TimedParser(HTTPRequestParser):
    """waitress's parser, noting when a request began; it reads raw bytes
    over 0x7F in the request target as their percent-encoding, as a browser
    sends them (waitress alone refuses them: "Bad URI"), so raw UTF-8 in a
    query is UTF-8 and anything else the app's 400."""

    def __init__(self, adj: Adjustments) -> None:
        super().__init__(adj)
        self.started = time.monotonic()

    def parse_header(self, header_plus: bytes) -> None:
        first_line, separator, rest = header_plus.partition(b"\r\n")
        super().parse_header(_NOT_ASCII.sub(_percent_encoded, first_line) + separator + rest)


_NOT_ASCII = re.compile(rb"[\x80-\xff]")


def _percent_encoded(match: re.Match) -> bytes:
    return b"%%%02X" % match.group()[0]


class _Channel(HTTPChannel):
    parser_class = _TimedParser


class _Server(TcpWSGIServer):
    """waitress's server, which also cuts a connection whose request is
    still arriving REQUEST_DEADLINE_SECONDS after its first byte."""

    channel_class = _Channel

    def maintenance(self, now: float) -> None:
        super().maintenance(now)
        cutoff = time.monotonic() - REQUEST_DEADLINE_SECONDS
        for channel in list(self.active_channels.values()):
            request = channel.request
            if request is not None and not request.completed and request.started < cutoff:
                channel.will_close = True


class LocalServer:
    """One process serving ``wsgi_app`` on ``host:port`` (port 0: a free one)."""

    def __init__(self, host: str, port: int, wsgi_app: Callable, threads: int = THREADS) -> None:
        self._map: dict = {}
        self._dispatcher = ThreadedTaskDispatcher()
        self._dispatcher.set_thread_count(threads)
        adjustments = Adjustments(host=host, port=port, **waitress_settings(threads))
        self._server = _Server(wsgi_app, self._map, dispatcher=self._dispatcher, adj=adjustments)
        self.server_port = self._server.effective_port
        self._stopping = False

    def serve_forever(self, poll_interval: float = POLL_SECONDS) -> None:
        while not self._stopping:
            wasyncore.loop(timeout=poll_interval, map=self._map, use_poll=True, count=1)

    def shutdown(self) -> None:
        self._stopping = True
        self._server.trigger.pull_trigger()

    def server_close(self) -> None:
        self._dispatcher.shutdown(timeout=5)
        wasyncore.close_all(self._map)


@dataclass
class LocalServices:
    """What ``serve`` set up: the settings in force and the embedded Redis, if any."""

    settings: Settings
    embedded: Optional[RedisServer]
    generated_api_key: bool

    def close(self) -> None:
        if self.embedded:
            self.embedded.stop()


def prepare(settings: Settings, data_dir: Optional[Path] = None) -> LocalServices:
    """Fills the gaps of a local run: an embedded Redis when none is
    configured, a fresh API key when none is set."""
    embedded = None
    if not settings.redis_url:
        embedded = RedisServer(data_dir or Path.home() / ".lamed" / "redis", persistent=True).start()
        settings = settings.replace(redis_url=embedded.url)
    generated = not settings.api_key
    if generated:
        settings = settings.replace(api_key=secrets.token_urlsafe(24))
    runtime.install(settings)
    return LocalServices(settings, embedded, generated)


@contextmanager
def metrics_directory() -> Iterator[str]:
    """The run's directory for prometheus_client's multiprocess files, named
    in MULTIPROC_ENV for this process and the workers it forks; removed when
    the run ends, so a new run starts its counters at zero."""
    directory = tempfile.mkdtemp(prefix="lamed-metrics-")
    previous = os.environ.get(MULTIPROC_ENV)
    os.environ[MULTIPROC_ENV] = directory
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)
        if previous is None:
            os.environ.pop(MULTIPROC_ENV, None)
        else:
            os.environ[MULTIPROC_ENV] = previous


def serving_app() -> Callable:
    """The WSGI app both modes serve: the API with its logs and metrics."""
    settings = runtime.settings()
    return observed_application(settings.api_key, settings.log_level)


def make_wsgi_server(host: str, port: int, wsgi_app: Optional[Callable] = None) -> LocalServer:
    return LocalServer(host, port, wsgi_app or serving_app())


def gunicorn_options(host: str, port: int, workers: int, threads: int = THREADS) -> dict:
    """gunicorn's master forks the workers (each runs waitress over the
    shared listening socket: WaitressWorker); the app is loaded once in the
    master (no Redis connection at import) and each worker opens its own
    pool on first use, so no socket is shared across the fork."""
    return {
        "bind": f"{host}:{port}",
        "workers": workers,
        "worker_class": "lamed.cli.serve.WaitressWorker",
        "threads": threads,
        "preload_app": True,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "warning",
        "timeout": 30,
        "graceful_timeout": 5,
        "backlog": 1024,
        "child_exit": _worker_exited,
        "post_worker_init": start_notifier_in_worker,
    }


def _worker_exited(server: Any, worker: Any) -> None:
    from lamed.web.prometheus import process_exited

    process_exited(worker.pid)


def start_notifier_in_worker(worker: object = None) -> None:
    """Each server process runs the notification check's timer (lamed.web.notify)."""
    from lamed.web.notify import start_notifier

    start_notifier(runtime.settings())


def run_gunicorn(options: dict, wsgi_app: Optional[Callable] = None) -> None:
    """Serves the WSGI app with gunicorn until it is stopped (SIGINT/SIGTERM).

    Runs gunicorn's master in this process, so services prepared before
    (the embedded Redis) are started once, not per worker."""
    from gunicorn.app.base import BaseApplication

    class _LamedGunicorn(BaseApplication):
        def load_config(self) -> None:
            for name, value in options.items():
                self.cfg.set(name, value)

        def load(self) -> Callable:
            return wsgi_app if wsgi_app is not None else serving_app()

    _LamedGunicorn().run()


class WaitressWorker(Worker):
    """A gunicorn worker that serves with waitress on the listening sockets
    gunicorn opened, beating gunicorn's heartbeat between event-loop turns."""

    def run(self) -> None:
        socket_map: dict = {}
        dispatcher = ThreadedTaskDispatcher()
        dispatcher.set_thread_count(self.cfg.threads)
        adjustments = Adjustments(**waitress_settings(self.cfg.threads))
        servers = [
            _Server(
                self.wsgi,
                socket_map,
                _sock=listener.sock,
                dispatcher=dispatcher,
                adj=adjustments,
                bind_socket=False,
                sockinfo=(listener.sock.family, listener.sock.type, listener.sock.proto, listener.sock.getsockname()),
            )
            for listener in self.sockets
        ]
        while self.alive and self.ppid == os.getppid():
            self.notify()
            wasyncore.loop(timeout=POLL_SECONDS, map=socket_map, use_poll=True, count=1)
        self._finish(servers, socket_map, dispatcher)

    def _finish(self, servers: list, socket_map: dict, dispatcher: Any) -> None:
        """Stops accepting, then answers the requests already read (for at
        most ``graceful_timeout``) before the process exits."""
        for server in servers:
            server.accepting = False
            server.del_channel()
        deadline = time.monotonic() + self.cfg.graceful_timeout
        while time.monotonic() < deadline and any(_busy(channel) for channel in list(socket_map.values())):
            self.notify()
            wasyncore.loop(timeout=0.1, map=socket_map, use_poll=True, count=1)
        dispatcher.shutdown(timeout=1)
        wasyncore.close_all(socket_map)


def _busy(channel: Any) -> bool:
    return bool(getattr(channel, "requests", None) or getattr(channel, "total_outbufs_len", 0))
