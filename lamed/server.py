"""``lamed serve``: the API on one machine, for development and small sites."""

from __future__ import annotations

import secrets
import socketserver
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from lamed import runtime
from lamed.embedded import RedisServer
from lamed.settings import Settings


class _ThreadingWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256


class _QuietHandler(WSGIRequestHandler):
    def get_environ(self) -> dict:
        environ = super().get_environ()
        # The undecoded target, as gunicorn gives it: %2F inside a name must
        # not become a path separator.
        environ["RAW_URI"] = self.path
        return environ

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        pass


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


def make_wsgi_server(host: str, port: int, wsgi_app: Optional[Callable] = None) -> WSGIServer:
    if wsgi_app is None:
        from lamed.wsgi import application

        wsgi_app = application()
    return make_server(host, port, wsgi_app, server_class=_ThreadingWSGIServer, handler_class=_QuietHandler)
