"""The ``lamed`` command line."""

from __future__ import annotations

import signal
import sys
from typing import NoReturn, Optional

import click

from lamed.cli.errors import settings_or_fail
from lamed.cli.experiments import experiments
from lamed.cli.keys import COMMANDS as KEYS_COMMANDS
from lamed.cli.notify import notify
from lamed.cli.ops import COMMANDS as OPS_COMMANDS
from lamed.cli.results import results
from lamed.cli.transfer import COMMANDS as TRANSFER_COMMANDS


@click.group()
@click.version_option(package_name="lamed")
def main() -> None:
    """Lamed: a self-hosted A/B testing backend (Alephbet client, Redis store)."""


def fail(message: str) -> NoReturn:
    """One clear line on stderr and a non-zero exit; never a traceback."""
    raise click.ClickException(message)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to listen on.")
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 256),
    help="Processes (more than 1: under gunicorn's master), each reading requests with waitress.",
)
@click.option(
    "--metrics-port",
    type=click.IntRange(0, 65535),
    help="Also serve Prometheus metrics at /metrics on this port, without the API key (0: a free one). "
    "Without it, /metrics on the API's port answers only with the API key (X-API-Key).",
)
@click.option(
    "--metrics-host", default="127.0.0.1", show_default=True, help="Address of --metrics-port (keep it private)."
)
def serve(host: str, port: int, workers: int, metrics_port: Optional[int], metrics_host: str) -> None:
    """Run the Lamed API locally.

    With no Redis configured (LAMED_REDIS_URL or `lamed configure`), starts an
    embedded redis-server keeping its data in ~/.lamed/redis: for trying
    things out, not for production. For production outside Lambda, use
    --workers N (about one per core) with your own Redis.

    Logs one JSON line per request on stderr (LAMED_LOG_LEVEL: info, the
    default; warning or error for fewer); Prometheus metrics of all workers
    at /metrics (docs/observability.md).
    """
    from lamed.cli.serve import metrics_directory

    with metrics_directory():
        _serve(host, port, workers, metrics_port, metrics_host)


def _serve(host: str, port: int, workers: int, metrics_port: Optional[int], metrics_host: str) -> None:
    from lamed.cli.embedded import EmbeddedRedisError
    from lamed.cli.serve import make_wsgi_server, prepare, start_notifier_in_worker
    from lamed.web.prometheus import serve_metrics

    settings = settings_or_fail()
    try:
        services = prepare(settings)
    except EmbeddedRedisError as error:
        fail(str(error))
    server = None
    if workers == 1:
        try:
            server = make_wsgi_server(host, port)
        except OSError as error:
            services.close()
            fail(f"cannot listen on {host}:{port}: {error.strerror or error}")
    url = f"http://{host}:{server.server_port if server else port}"
    if metrics_port is not None:
        try:
            bound = serve_metrics(metrics_host, metrics_port)
        except OSError as error:
            services.close()
            fail(f"cannot listen on {metrics_host}:{metrics_port} for metrics: {error.strerror or error}")
        click.echo(f"Metrics: http://{metrics_host}:{bound}/metrics")
    else:
        click.echo(f"Metrics: {url}/metrics with the API key (X-API-Key), or --metrics-port")
    if services.embedded:
        click.echo(
            f"Redis: embedded redis-server on {services.embedded.url} (data in {services.embedded.data_dir}); "
            "for trying things out. Set LAMED_REDIS_URL to use your own Redis."
        )
    else:
        click.echo(f"Redis: {_redact(services.settings.redis_url)}")
    if services.generated_api_key:  # shown once, since nobody else knows it; a configured key never is
        click.echo(f"API key: {services.settings.api_key} (generated for this run; set LAMED_API_KEY to keep one)")
    else:
        click.echo("API key: the configured one (LAMED_API_KEY or `lamed configure`; not shown)")
    click.echo(f"Track URL: {url}/track")
    click.echo(
        f"Lamed is serving on {url} (Ctrl-C to stop)",
    )
    sys.stdout.flush()
    if server is None:
        _serve_with_gunicorn(services, host, port, workers)
        return
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    start_notifier_in_worker()  # the decisions' messages, if notify_url is set
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        services.close()


LOCAL_URL = "http://127.0.0.1:8000"


@main.command()
@click.option("--url", envvar="LAMED_URL", help="Base URL of the API [default: api_url in the config, else local].")
@click.option("--print-url", is_flag=True, help="Print the dashboard's URL instead of opening a browser.")
def dashboard(url: str, print_url: bool) -> None:
    """Open the dashboard of the deployment (or of `lamed serve`) in the browser."""
    base = (url or settings_or_fail().extra.get("api_url") or LOCAL_URL).rstrip("/")
    if not base.startswith(("http://", "https://")):
        fail(f"the API URL must start with http:// or https://, got {base!r}")
    target = f"{base}/dashboard"
    if print_url:
        click.echo(target)
        return
    import webbrowser

    if not webbrowser.open(target):
        fail(f"no browser to open; visit {target}")
    click.echo(f"Opened {target} (log in with the API key)")


def _serve_with_gunicorn(services, host: str, port: int, workers: int) -> None:
    """gunicorn's master runs here; the embedded Redis (if any) stays one
    process for all workers and stops when the master does."""
    from lamed.cli.serve import gunicorn_options, run_gunicorn

    click.echo(f"Workers: {workers} gunicorn processes")
    sys.stdout.flush()
    try:
        run_gunicorn(gunicorn_options(host, port, workers))
    finally:
        services.close()


def _raise_keyboard_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _redact(url: str) -> str:
    """Hides a password in a Redis URL."""
    if "@" not in url:
        return url
    scheme, rest = url.split("://", 1)
    credentials, host = rest.rsplit("@", 1)
    return f"{scheme}://***@{host}"


for command in (experiments, results, notify, *OPS_COMMANDS, *TRANSFER_COMMANDS, *KEYS_COMMANDS):
    main.add_command(command)
