"""What the bench reads from Redis and from the client's sockets.

Standard library only: the driver imports it under our virtualenv and under
Lamed 0.4.3's (whose redis client is a vendored 3.4.1), and the figures must
be taken the same way for both.

- :class:`RedisProbe` talks RESP over its own socket, so its INFO calls are
  not counted as the client's traffic: commands from ``INFO commandstats``,
  new connections from ``INFO stats``, memory from ``INFO memory``.
- :func:`count_round_trips` swaps ``socket.socket`` for a subclass that counts
  a round trip each time a socket reads after having written: a pipeline sent
  in several chunks and read in several pieces is still one round trip.
"""

from __future__ import annotations

import socket

_RealSocket = socket.socket


class RedisProbe:
    def __init__(self, host: str, port: int) -> None:
        self._sock = _RealSocket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.connect((host, port))
        self._buffer = b""

    def command(self, *args: str) -> bytes:
        parts = [b"*%d\r\n" % len(args)]
        for arg in args:
            raw = arg.encode()
            parts.append(b"$%d\r\n%s\r\n" % (len(raw), raw))
        self._sock.sendall(b"".join(parts))
        return self._read_reply()

    def _read_line(self) -> bytes:
        while b"\r\n" not in self._buffer:
            self._buffer += self._sock.recv(65536)
        line, self._buffer = self._buffer.split(b"\r\n", 1)
        return line

    def _read_reply(self) -> bytes:
        line = self._read_line()
        if line[:1] == b"-":
            raise RuntimeError(line.decode())
        if line[:1] != b"$":
            return line[1:]
        length = int(line[1:])
        while len(self._buffer) < length + 2:
            self._buffer += self._sock.recv(65536)
        body, self._buffer = self._buffer[:length], self._buffer[length + 2 :]
        return body

    def info(self, section: str) -> dict:
        fields = {}
        for line in self.command("INFO", section).decode().splitlines():
            if ":" in line and not line.startswith("#"):
                name, value = line.split(":", 1)
                fields[name] = value
        return fields

    def snapshot(self) -> dict:
        """Command calls by name (INFO itself left out), connections, memory,
        and the server's CPU seconds."""
        calls = {}
        for name, value in self.info("commandstats").items():
            command = name[len("cmdstat_") :]
            if command != "info":
                calls[command] = int(value.split(",")[0].split("=")[1])
        stats = self.info("stats")
        memory = self.info("memory")
        return {
            "calls": calls,
            "connections": int(stats["total_connections_received"]),
            "used_memory": int(memory["used_memory"]),
            "cpu_seconds": sum(
                float(value) for name, value in self.info("cpu").items() if name.endswith("main_thread")
            ),
        }

    def flushall(self) -> None:
        self.command("FLUSHALL")

    def close(self) -> None:
        self._sock.close()


def delta(before: dict, after: dict) -> dict:
    calls = {
        name: after["calls"].get(name, 0) - before["calls"].get(name, 0)
        for name in after["calls"]
        if after["calls"].get(name, 0) != before["calls"].get(name, 0)
    }
    return {
        "calls": calls,
        "commands": sum(calls.values()),
        "connections": after["connections"] - before["connections"],
        "used_memory": after["used_memory"] - before["used_memory"],
        "cpu_seconds": after["cpu_seconds"] - before["cpu_seconds"],
    }


class RoundTrips:
    count = 0


class _CountingSocket(_RealSocket):
    _wrote = False

    def send(self, *args, **kwargs):
        self._wrote = True
        return super().send(*args, **kwargs)

    def sendall(self, *args, **kwargs):
        self._wrote = True
        return super().sendall(*args, **kwargs)

    def _reading(self) -> None:
        if self._wrote:
            self._wrote = False
            RoundTrips.count += 1

    def recv(self, *args, **kwargs):
        self._reading()
        return super().recv(*args, **kwargs)

    def recv_into(self, *args, **kwargs):
        self._reading()
        return super().recv_into(*args, **kwargs)


def count_round_trips() -> type:
    """Call before the client opens connections; read ``RoundTrips.count``."""
    socket.socket = _CountingSocket
    return RoundTrips
