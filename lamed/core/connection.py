"""A lean Redis connection for the track path: the standard library's socket.

Importing redis-py costs 70-90 ms of every Lambda cold start (it imports
asyncio, its command modules and more), more than Lamed 0.4.3's whole
import; this module costs about 4 ms. It speaks what the track path needs:
RESP2 on one socket, TCP, TLS or a Unix socket, AUTH and SELECT, with the
options every Lamed connection uses (:mod:`lamed.core.redis_url`).

Every failure is an :class:`OSError` (connect, timeout, closed connection) or
a :class:`~lamed.core.errors.RedisError` (an error reply, a protocol violation).
"""

from __future__ import annotations

import select
import socket
from collections.abc import Callable

from lamed.core.errors import ProtocolError, ReplyError
from lamed.core.protocol import new_reader, pack_all
from lamed.core.redis_url import ConnectionOptions

_READ_SIZE = 65536


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
            if options.tls:
                sock = _wrap_tls(sock, options)
        sock.settimeout(self.timeout_seconds)
        self._sock, self._reader = sock, new_reader(self.use_hiredis)
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
                self.send(pack_all(commands))
                for _ in commands:
                    self.read()
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

    def read(self) -> object:
        """The next reply: bytes, int, None, a list of these, and inside a
        list a :class:`ReplyError`. An error reply on its own is raised."""
        reply = self._wait_for(self._reader.gets)
        if reply.__class__ is ReplyError:
            raise reply
        return reply

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
