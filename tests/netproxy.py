"""A TCP proxy on loopback that misbehaves as production networks do.

Put between a Redis client and a real redis-server, it forwards bytes both
ways until told otherwise:

- :meth:`FlakyProxy.forget` makes it forget every connection it carries, as
  a NAT gateway forgets a flow idle past its timeout (350 s on AWS) or a
  failover drops a node's clients: the next bytes a client sends are
  answered with a reset (``"reset"``), or vanish with no answer ever
  (``"silent"``, a flow blackholed by a middlebox). New connections work.
- :meth:`FlakyProxy.cut_after` lets the next request holding a marker
  (``EXEC``, say) reach Redis, waits for Redis to answer it, drops that
  answer and resets the client: the command ran, the client never knows.
  :meth:`FlakyProxy.cut_before` lets only the part before the marker reach
  Redis, as when a connection dies in the middle of a pipeline.
"""

from __future__ import annotations

import select
import socket
import struct
import threading
import time


class _Link:
    def __init__(self, client: socket.socket, server: socket.socket) -> None:
        self.client, self.server = client, server
        self.forgotten: str | None = None  # None, "reset" or "silent"


class FlakyProxy:
    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.port = self._listener.getsockname()[1]
        self._links: list[_Link] = []
        self._cut: tuple[bytes, bool] | None = None  # (marker, whether the marker itself reaches Redis)
        self._lock = threading.Lock()
        self._closed = False
        self.connections = 0  # accepted so far
        self.cuts = 0  # connections cut by cut_after or cut_before
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def forget(self, how: str = "reset") -> None:
        assert how in ("reset", "silent")
        with self._lock:
            for link in self._links:
                link.forgotten = how

    def cut_after(self, marker: bytes) -> None:
        self._cut = (marker, True)

    def cut_before(self, marker: bytes) -> None:
        self._cut = (marker, False)

    def close(self) -> None:
        self._closed = True
        self._listener.close()
        with self._lock:
            for link in self._links:
                for sock in (link.client, link.server):
                    try:
                        sock.close()
                    except OSError:
                        pass

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.upstream_port))
            link = _Link(client, server)
            with self._lock:
                self._links.append(link)
                self.connections += 1
            threading.Thread(target=self._pump, args=(link,), daemon=True).start()

    def _pump(self, link: _Link) -> None:
        try:
            while not self._closed:
                readable, _, _ = select.select([link.client, link.server], [], [], 0.05)
                if link.client in readable and not self._from_client(link):
                    return
                if link.server in readable and not self._from_server(link):
                    return
        except (OSError, ValueError):
            return

    def _from_client(self, link: _Link) -> bool:
        data = link.client.recv(65536)
        if not data:
            link.server.close()
            return False
        if link.forgotten == "reset":
            _reset(link.client)
            link.server.close()
            return False
        if link.forgotten == "silent":
            return True  # swallowed; the client waits for an answer that never comes
        if self._cut is not None and self._cut[0] in data:
            marker, with_marker = self._cut
            self._cut = None
            link.server.sendall(data if with_marker else data[: data.index(marker)])
            link.server.settimeout(2.0)
            link.server.recv(65536)  # Redis ran what reached it; its answer is dropped
            _reset(link.client)
            link.server.close()
            self.cuts += 1
            return False
        link.server.sendall(data)
        return True

    def _from_server(self, link: _Link) -> bool:
        data = link.server.recv(65536)
        if not data:
            link.client.close()
            return False
        if link.forgotten is None:
            link.client.sendall(data)
        return True


def _reset(sock: socket.socket) -> None:
    """Closes with a TCP reset (linger 0), as a NAT gateway answers a forgotten flow."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def wait_for(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)
