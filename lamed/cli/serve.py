"""``lamed serve``: the API on one machine, for development and small sites."""

from __future__ import annotations

import secrets
import socketserver
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from lamed.cli.embedded import RedisServer
from lamed.core.settings import Settings
from lamed.web import runtime


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
        from lamed.web.wsgi import application

        wsgi_app = application()
    return make_server(host, port, wsgi_app, server_class=_ThreadingWSGIServer, handler_class=_QuietHandler)


class GunicornMissing(RuntimeError):
    pass


def gunicorn_available() -> bool:
    try:
        import gunicorn  # noqa: F401 - only whether it is there
    except ImportError:
        return False
    return True


def gunicorn_options(host: str, port: int, workers: int, threads: int = 4) -> dict:
    """Threaded workers keep HTTP connections alive; the app is loaded once in
    the master (no Redis connection at import) and each worker opens its own
    pool on first use, so no socket is shared across the fork."""
    return {
        "bind": f"{host}:{port}",
        "workers": workers,
        "worker_class": "gthread",
        "threads": threads,
        "preload_app": True,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "warning",
        "timeout": 30,
        "graceful_timeout": 5,
        "keepalive": 5,
        "backlog": 1024,
        "post_worker_init": start_notifier_in_worker,
    }


def start_notifier_in_worker(worker: object = None) -> None:
    """Each server process runs the notification check's timer (lamed.web.notify)."""
    from lamed.web.notify import start_notifier

    start_notifier(runtime.settings())


def run_gunicorn(options: dict, wsgi_app: Optional[Callable] = None) -> None:
    """Serves the WSGI app with gunicorn until it is stopped (SIGINT/SIGTERM).

    Runs gunicorn's master in this process, so services prepared before
    (the embedded Redis) are started once, not per worker."""
    try:
        from gunicorn.app.base import BaseApplication
    except ImportError:
        raise GunicornMissing("gunicorn is not installed: pip install 'lamed[server]'") from None

    class _LamedGunicorn(BaseApplication):
        def load_config(self) -> None:
            for name, value in options.items():
                self.cfg.set(name, value)

        def load(self) -> Callable:
            if wsgi_app is not None:
                return wsgi_app
            from lamed.web.wsgi import application

            return application()

    _LamedGunicorn().run()
