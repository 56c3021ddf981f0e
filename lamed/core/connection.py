"""A lean Redis connection for the track path: the standard library's socket.

Importing redis-py costs 70-90 ms of every Lambda cold start (it imports
asyncio, its command modules and more), more than Lamed 0.4.3's whole
import; this module costs about 4 ms. It speaks what the track path needs:
RESP2 on one socket, TCP, TLS or a Unix socket, AUTH and SELECT, with the
options every Lamed connection uses (:mod:`lamed.core.redis_url`).

Every failure is an :class:`OSError` (connect, timeout, closed connection) or
a :class:`~lamed.core.errors.RedisError` (an error reply, a protocol violation).
An exchange (:meth:`Connection.call`) reads every reply before it judges
any, so an error reply never leaves later replies unread on the socket.
"""

from __future__ import annotations

import select
import socket
from collections.abc import Callable, Sequence
from time import perf_counter

from lamed.core import observe
from lamed.core.errors import ProtocolError
from lamed.core.protocol import judged, new_reader, pack_all
from lamed.core.redis_url import ConnectionOptions

_READ_SIZE = 65536
# TCP keepalive on a kept connection: probes after a minute of idle, every
# 15 s, so a NAT gateway (idle timeout 350 s) keeps the flow of a process
# that stays awake, and a dead peer is noticed in about two minutes.
_KEEPALIVE = (("TCP_KEEPIDLE", 60), ("TCP_KEEPINTVL", 15), ("TCP_KEEPCNT", 4))


class Connection:
    """One socket to Redis, opened on first use. Not thread-safe: a caller
    holds it for a whole exchange (a pool hands it to one thread at a time)."""

    def __init__(self, options: ConnectionOptions, use_hiredis: bool = True) -> None:
        self.options = options
        self.timeout_seconds = options.timeout_seconds
        self.use_hiredis = use_hiredis
        self._sock: socket.socket | None = None
        self._reader = new_reader(use_hiredis)

    # -- the socket -------------------------------------------------------

    def open(self) -> socket.socket:
        options = self.options
        if options.path:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.settimeout(self.timeout_seconds)
                sock.connect(options.path)
            except OSError:
                sock.close()
                raise
        else:
            sock = socket.create_connection((options.host, options.port), self.timeout_seconds)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            _keep_alive(sock)
            if options.tls:
                sock = _wrap_tls(sock, options)
        sock.settimeout(self.timeout_seconds)
        self._sock, self._reader = sock, new_reader(self.use_hiredis)
        observe.watching.connection_opened()
        self._handshake()
        return sock

    def _handshake(self) -> None:
        options, commands = self.options, []
        if options.password is not None:
            credentials = (options.username, options.password) if options.username else (options.password,)
            commands.append((b"AUTH", *credentials))
        if options.db:
            commands.append((b"SELECT", options.db))
        if commands:
            try:
                self.call(commands)
            except BaseException:
                self.close()
                raise

    def close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            try:
                sock.close()
            except OSError:
                pass

    def is_stale(self) -> bool:
        """True if the server closed this idle connection (or sent something
        unasked): it must be reopened before use."""
        if self._sock is None:
            return False
        if self._reader.has_data():
            return True
        try:
            readable, _, _ = select.select([self._sock], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(readable)

    def send(self, data: bytes) -> None:
        sock = self._sock if self._sock is not None else self.open()
        sock.sendall(data)

    # -- replies ------------------------------------------------------------

    def call(self, commands: Sequence[tuple[object, ...]]) -> list[object]:
        """Sends ``commands`` in one write and reads all their replies; then
        raises the first error reply (see :func:`lamed.core.protocol.judged`).
        The round trip's duration goes to :data:`lamed.core.observe.watching`."""
        started = perf_counter()
        self.send(pack_all(commands))
        replies = [self.read() for _ in commands]
        observe.watching.round_trip(perf_counter() - started)
        return judged(replies)

    def read(self) -> object:
        """The next reply: bytes, int, None, a :class:`ReplyError`, or a list
        of these. An error reply is returned, not raised: the caller reads
        the replies it is owed first."""
        return self._wait_for(self._reader.gets)

    def _wait_for(self, get: Callable[[], object]) -> object:
        """``get()`` once it stops answering False, reading the socket meanwhile."""
        try:
            found = get()
            while found is False:
                self._fill()
                found = get()
        except ProtocolError:
            self.close()  # the stream is out of step: nothing more on it can be trusted
            raise
        return found

    def _fill(self) -> None:
        if self._sock is None:
            raise ConnectionError("not connected to Redis")
        try:
            chunk = self._sock.recv(_READ_SIZE)
        except BaseException:
            self.close()
            raise
        if not chunk:
            self.close()
            raise ConnectionError("Redis closed the connection")
        self._reader.feed(chunk)


def _keep_alive(sock: socket.socket) -> None:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for name, value in _KEEPALIVE:
        if hasattr(socket, name):  # Linux names; other systems keep their defaults
            sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, name), value)


def _wrap_tls(sock: socket.socket, options: ConnectionOptions) -> socket.socket:
    """TLS as redis-py does it for ``rediss://``: the certificate and the
    host name verified unless the URL opts out (lamed.core.redis_url)."""
    import ssl  # only for rediss://: 15 ms nobody else should pay

    context = ssl.create_default_context(cafile=options.ca_certs)
    context.check_hostname = options.check_hostname
    context.verify_mode = {"none": ssl.CERT_NONE, "optional": ssl.CERT_OPTIONAL, "required": ssl.CERT_REQUIRED}[
        options.cert_reqs
    ]
    try:
        return context.wrap_socket(sock, server_hostname=options.host)
    except OSError:
        sock.close()
        raise
