"""Redis as seen from here, over the track path's lean connection: reachable
(TCP, then TLS and AUTH, then PING), writable (SET, SET .. XX KEEPTTL, GET,
DEL of the prefix's preflight key), its eviction policy (``INFO memory``)
and the time of one round trip.

The Lambda answers its health payload with this (from inside its VPC, where
ElastiCache answers); it imports nothing the track path does not. A failure
names its ``cause``, so whoever shows it can say what to fix.
"""

from __future__ import annotations

import socket
import time
from typing import Union

from lamed.core.connection import Connection
from lamed.core.errors import RedisError, ReplyError
from lamed.core.keys import KeySchema
from lamed.core.redis_safety import check_memory, parse_info
from lamed.core.redis_url import connection_options
from lamed.core.settings import Settings

# Long enough for a cold TLS handshake; the track path keeps its own timeout.
CHECK_TIMEOUT_SECONDS = 2.0
Report = dict[str, Union[str, bool, float, None]]
# An error reply's first word, for the ones an operator can fix.
_REPLY_CAUSES = {"NOAUTH": "auth", "WRONGPASS": "auth", "READONLY": "readonly", "MOVED": "moved", "OOM": "oom"}


def check_redis(settings: Settings, timeout_seconds: float = CHECK_TIMEOUT_SECONDS) -> Report:
    """What Lamed needs of ``settings.redis_url``; never raises for Redis trouble."""
    if not settings.redis_url:
        return config_failure("no redis_url configured (LAMED_REDIS_URL)")
    try:
        options = connection_options(settings.redis_url, max(settings.redis_timeout_seconds, timeout_seconds))
    except ValueError as error:
        return config_failure(f"redis_url {error}")
    report = _unchecked()
    report.update(redis=options.path or f"{options.host}:{options.port}", tls=options.tls)
    connection = Connection(options)
    step = "tcp"
    try:
        if not options.path:  # told apart from the handshake: a network path, or TLS and AUTH
            socket.create_connection((options.host, options.port), options.timeout_seconds).close()
        step = "handshake"
        connection.open()
        step = "ping"
        started = time.perf_counter()
        _run(connection, [(b"PING",)])
        report.update(reachable=True, round_trip_ms=round((time.perf_counter() - started) * 1000, 3))
        step = "info"
        memory = check_memory(str(report["redis"]), _memory_info(connection))
        report.update(maxmemory_policy=memory.policy, memory_problems="; ".join(memory.failures + memory.warnings))
        step = "write"
        connection = _write_and_read_back(connection, KeySchema(settings.key_prefix).preflight)
        report.update(ok=True, writable=True)
    except (OSError, RedisError) as error:
        report.update(failed=step, cause=cause_of(error), error=" ".join(str(error).split()) or type(error).__name__)
    finally:
        connection.close()
    return report


def config_failure(message: str) -> Report:
    """The report when the settings themselves are wrong: Redis was not tried."""
    return {**_unchecked(), "failed": "config", "cause": "config", "error": message}


def _unchecked() -> Report:
    return {"ok": False, "reachable": False, "writable": False, "maxmemory_policy": None}


def _run(connection: Connection, commands: list[tuple[bytes, ...]]) -> list[object]:
    return connection.call(commands)


def _write_and_read_back(connection: Connection, key: bytes, redirected: bool = False) -> Connection:
    """On Redis Cluster the key may live on another node: its MOVED reply is
    followed once. Returns the connection that wrote."""
    # SET .. XX KEEPTTL as counting sends it: a Redis before 6.0 answers a syntax error here.
    commands = [(b"SET", key, b"1", b"EX", b"60"), (b"SET", key, b"1", b"XX", b"KEEPTTL"), (b"GET", key), (b"DEL", key)]
    try:
        value = _run(connection, commands)[2]
    except ReplyError as error:
        moved = str(error).split()
        if redirected or len(moved) != 3 or moved[0] != "MOVED":
            raise
        connection.close()
        host, _, port = moved[2].rpartition(":")
        options = connection.options._replace(host=host or connection.options.host, port=int(port))
        other = Connection(options)
        try:
            return _write_and_read_back(other, key, redirected=True)
        except BaseException:
            other.close()
            raise
    if value != b"1":
        raise ReplyError("wrote a value and read back another one")
    return connection


def _memory_info(connection: Connection) -> dict[str, str] | None:
    """``INFO memory``, or None where this Redis user may not run INFO."""
    try:
        info = _run(connection, [(b"INFO", b"memory")])[0]
    except ReplyError as error:
        if str(error).startswith("NOPERM"):
            return None
        raise
    return parse_info(info.decode("utf-8", "replace") if isinstance(info, bytes) else "")


def cause_of(error: BaseException) -> str:
    """One word for what went wrong: timeout, refused, dns, tls, closed, auth,
    readonly, moved, oom or error."""
    import ssl  # already loaded when TLS was used; else only on a failure

    if isinstance(error, ReplyError):
        text = str(error).upper()
        cause = _REPLY_CAUSES.get(text.split(" ", 1)[0])
        if cause is None and ("PASSWORD" in text or "AUTH" in text):
            return "auth"  # ERR invalid password, ERR AUTH ... without any password configured
        return cause or "error"
    if isinstance(error, (ssl.SSLError, ssl.CertificateError)):
        return "tls"
    if isinstance(error, socket.gaierror):
        return "dns"
    if isinstance(error, TimeoutError):  # socket.timeout too
        return "timeout"
    if isinstance(error, ConnectionRefusedError):
        return "refused"
    if isinstance(error, ConnectionError):
        return "closed"
    return "error"
