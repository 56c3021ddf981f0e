"""A lean Redis connection for the tracking path: stdlib only.

Tracking writes pre-packed commands and reads short replies (``+OK``,
``+QUEUED``, integers, bulk strings, arrays). Importing redis-py costs about
80 ms at every Lambda cold start (it pulls in asyncio, its command modules and
more), four times the whole of Lamed 0.4.3's import; this module costs about
4 ms (``socket``). redis-py stays the client for everything else (results,
definitions, the CLI, Redis Cluster), so this module only speaks what tracking
needs: RESP2 on one socket, TCP, TLS or a Unix socket, AUTH and SELECT.

Every failure is an :class:`OSError` (connect, timeout, closed connection) or
a :class:`RedisError` (an error reply, a protocol violation).
"""

from __future__ import annotations

import select
import socket
from collections.abc import Iterable

DEFAULT_PORT = 6379
SSL_CERT_REQS = ("none", "optional", "required")
_READ_SIZE = 65536


class RedisError(Exception):
    """Redis answered with an error, or with something that is not RESP."""


class ReplyError(RedisError):
    """An error reply (``-ERR ...``, ``-NOSCRIPT ...``). Inside an array (the
    replies of EXEC) it is returned as a value; at the top it is raised."""


class ProtocolError(RedisError):
    pass


def pack(*parts: bytes) -> bytes:
    """One command in RESP."""
    return b"*%d\r\n" % len(parts) + b"".join([b"$%d\r\n%b\r\n" % (len(part), part) for part in parts])


def pack_keys(name: bytes, *columns: list) -> bytes:
    """One command whose arguments are columns of keys of one length each (a
    batch's flags, in one form per column): each column is joined in one C
    call instead of formatted key by key. ValueError for a column of mixed
    lengths."""
    parts = [b"*%d\r\n$%d\r\n%b\r\n" % (1 + sum(map(len, columns)), len(name), name)]
    for column in columns:
        if not column:
            continue
        if len(set(map(len, column))) != 1:
            raise ValueError("pack_keys: keys of one column must have one length")
        head = b"$%d\r\n" % len(column[0])
        parts.append(head + (b"\r\n" + head).join(column) + b"\r\n")
    return b"".join(parts)


def pack_all(commands: Iterable[tuple]) -> bytes:
    """Several commands, parts as bytes, str or int, for one write."""
    return b"".join(pack(*(_as_bytes(part) for part in command)) for command in commands)


def _as_bytes(part: object) -> bytes:
    if isinstance(part, bytes):
        return part
    if isinstance(part, int):
        return b"%d" % part
    return str(part).encode("utf-8")


class Address:
    """Where and how to connect, read from a ``redis://``, ``rediss://`` or
    ``unix://`` URL with redis-py's conventions."""

    __slots__ = ("host", "port", "path", "tls", "username", "password", "db", "ssl_options")

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        path: str | None = None,
        tls: bool = False,
        username: str | None = None,
        password: str | None = None,
        db: int = 0,
        ssl_options: dict | None = None,
    ) -> None:
        self.host, self.port, self.path, self.tls = host, port, path, tls
        self.username, self.password, self.db = username, password, db
        self.ssl_options = ssl_options or {}

    def __repr__(self) -> str:
        where = self.path or f"{self.host}:{self.port}"
        return f"Address({where!r}, db={self.db}, tls={self.tls})"


def address_from_url(url: str) -> Address:
    """``redis://[[user]:password@]host[:port][/db]``, ``rediss://`` the same
    over TLS (``?ssl_cert_reqs=none|optional|required``, ``ssl_ca_certs``,
    ``ssl_check_hostname``), ``unix://[[user]:password@]/path?db=N``.
    Raises ValueError for anything else."""
    from urllib.parse import parse_qs, unquote, urlsplit  # once per process, when the tracker is built

    parts = urlsplit(url)
    query = {name: values[-1] for name, values in parse_qs(parts.query).items()}
    username = unquote(parts.username) if parts.username else query.get("username")
    password = unquote(parts.password) if parts.password else query.get("password")
    db_text = query.get("db") or (parts.path.lstrip("/") if parts.scheme != "unix" else "") or "0"
    try:
        db = int(db_text)
    except ValueError:
        raise ValueError(f"database must be a number, not {db_text!r}") from None
    if parts.scheme == "unix":
        if not parts.path:
            raise ValueError("unix:// URL needs a socket path")
        return Address(path=parts.path, username=username, password=password, db=db)
    if parts.scheme not in ("redis", "rediss"):
        raise ValueError(f"not a redis://, rediss:// or unix:// URL: {parts.scheme}://")
    ssl_options = {name: value for name, value in query.items() if name.startswith("ssl_")}
    if ssl_options.get("ssl_cert_reqs", "required").lower() not in SSL_CERT_REQS:
        raise ValueError(f"ssl_cert_reqs must be one of {', '.join(SSL_CERT_REQS)}")
    return Address(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or DEFAULT_PORT,
        tls=parts.scheme == "rediss",
        username=username,
        password=password,
        db=db,
        ssl_options=ssl_options,
    )


class PythonReader:
    """The RESP2 reply parser in Python, with ``hiredis.Reader``'s interface
    (``feed`` bytes, ``gets`` a reply or False while one is incomplete).

    hiredis parses in C and is used when installed (as redis-py does); a
    Lambda bundle holds no compiled extensions, so it runs this one."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._start = 0

    def feed(self, data: bytes) -> None:
        if self._start and self._start >= len(self._buffer) // 2:
            del self._buffer[: self._start]
            self._start = 0
        self._buffer += data

    def has_data(self) -> bool:
        return self._start < len(self._buffer)

    def gets(self) -> object:
        try:
            (reply,), self._start = self._parse(self._start, 1)
        except _Incomplete:
            return False
        return reply

    def gets_many(self, count: int) -> list | bool:
        """The next ``count`` replies, or False until all have arrived."""
        try:
            replies, self._start = self._parse(self._start, count)
        except _Incomplete:
            return False
        return replies

    def _parse(self, position: int, count: int) -> tuple:
        """``count`` replies from ``position``: (replies, position after).
        Hot (a batch parses hundreds of replies): scalars are parsed in this
        loop, only a nested array costs a call."""
        buffer = self._buffer
        replies = []
        for _ in range(count):
            end = buffer.find(b"\r\n", position)
            if end < 0:
                raise _Incomplete
            kind = buffer[position]
            if kind == 36:  # $ bulk string
                size = int(buffer[position + 1 : end])
                if size < 0:
                    replies.append(None)
                    position = end + 2
                    continue
                if len(buffer) < end + 4 + size:
                    raise _Incomplete
                replies.append(bytes(buffer[end + 2 : end + 2 + size]))
                position = end + 4 + size
                continue
            if kind == 43:  # + simple string
                replies.append(bytes(buffer[position + 1 : end]))
            elif kind == 58:  # : integer
                replies.append(int(buffer[position + 1 : end]))
            elif kind == 42:  # * array
                size = int(buffer[position + 1 : end])
                if size < 0:
                    replies.append(None)
                else:
                    items, end = self._parse(end + 2, size)
                    replies.append(items)
                    position = end
                    continue
            elif kind == 45:  # - error
                replies.append(ReplyError(bytes(buffer[position + 1 : end]).decode("utf-8", "replace")))
            else:
                shown = bytes(buffer[position : min(end, position + 40)])
                raise ProtocolError(f"unexpected reply from Redis: {shown!r}")
            position = end + 2
        return replies, position


class _Incomplete(Exception):
    pass


try:  # the C parser, when installed (it is in lamed serve's virtualenv)
    from hiredis import Reader as _HiredisReader
except ImportError:
    _HiredisReader = None


def new_reader(use_hiredis: bool = True):
    if use_hiredis and _HiredisReader is not None:
        return _HiredisReader(protocolError=ProtocolError, replyError=ReplyError)
    return PythonReader()


class Connection:
    """One socket to Redis, opened on first use. Not thread-safe: a caller
    holds it for a whole exchange (a pool hands it to one thread at a time)."""

    def __init__(self, address: Address, timeout_seconds: float, use_hiredis: bool = True) -> None:
        self.address = address
        self.timeout_seconds = timeout_seconds
        self.use_hiredis = use_hiredis
        self._sock: socket.socket | None = None
        self._reader = new_reader(use_hiredis)

    # -- the socket -------------------------------------------------------

    def open(self) -> None:
        address = self.address
        if address.path:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.settimeout(self.timeout_seconds)
                sock.connect(address.path)
            except OSError:
                sock.close()
                raise
        else:
            sock = socket.create_connection((address.host, address.port), self.timeout_seconds)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if address.tls:
                sock = _wrap_tls(sock, address)
        sock.settimeout(self.timeout_seconds)
        self._sock, self._reader = sock, new_reader(self.use_hiredis)
        self._handshake()

    def _handshake(self) -> None:
        address, commands = self.address, []
        if address.password is not None:
            credentials = (address.username, address.password) if address.username else (address.password,)
            commands.append((b"AUTH", *credentials))
        if address.db:
            commands.append((b"SELECT", address.db))
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

    @property
    def is_open(self) -> bool:
        return self._sock is not None

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
        if self._sock is None:
            self.open()
        self._sock.sendall(data)

    # -- replies ------------------------------------------------------------

    def read(self) -> object:
        """The next reply: bytes, int, None, a list of these, and inside a
        list a :class:`ReplyError`. An error reply on its own is raised."""
        reply = self._wait_for(self._reader.gets)
        if reply.__class__ is ReplyError:
            raise reply
        return reply

    def read_many(self, replies: int) -> None:
        """Reads ``replies`` replies (a transaction's OK and QUEUED) and
        raises the first error among them."""
        gets_many = getattr(self._reader, "gets_many", None)
        if gets_many is not None:
            found = self._wait_for(lambda: gets_many(replies))
        else:  # hiredis: one at a time, in C; the socket is read only when they run out
            gets, found = self._reader.gets, []
            try:
                for _ in range(replies):
                    reply = gets()
                    found.append(self._wait_for(gets) if reply is False else reply)
            except ProtocolError:
                self.close()
                raise
        for reply in found:
            if reply.__class__ is ReplyError:
                raise reply

    def _wait_for(self, get) -> object:
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


def _wrap_tls(sock: socket.socket, address: Address) -> socket.socket:
    """TLS as redis-py does it for ``rediss://``: the server certificate is
    verified (``ssl_cert_reqs=required``) unless the URL says otherwise."""
    import ssl  # only for rediss://: 15 ms nobody else should pay

    options = address.ssl_options
    context = ssl.create_default_context(cafile=options.get("ssl_ca_certs"))
    requirement = options.get("ssl_cert_reqs", "required").lower()  # one of SSL_CERT_REQS (address_from_url)
    modes = {"none": ssl.CERT_NONE, "optional": ssl.CERT_OPTIONAL, "required": ssl.CERT_REQUIRED}
    context.check_hostname = requirement != "none" and options.get("ssl_check_hostname", "false") == "true"
    context.verify_mode = modes[requirement]
    try:
        return context.wrap_socket(sock, server_hostname=address.host)
    except OSError:
        sock.close()
        raise
