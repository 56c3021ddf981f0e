"""RESP2 for the lean connection: commands packed, replies parsed.

Replies are parsed by hiredis when installed (as redis-py does), else by
:class:`PythonReader`, with the same interface.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from lamed.core.errors import ProtocolError, ReplyError


def pack_all(commands: Iterable[tuple[object, ...]]) -> bytes:
    """Several commands for one write; parts as bytes, int or str (UTF-8)."""
    out = []
    for command in commands:
        out.append(b"*%d\r\n" % len(command))
        for part in command:
            if part.__class__ is not bytes:
                part = b"%d" % part if isinstance(part, int) else str(part).encode("utf-8")
            out.append(b"$%d\r\n%b\r\n" % (len(part), part))
    return b"".join(out)


def judged(replies: list[Any]) -> list[Any]:
    """``replies`` once all of them are read: the first error reply among
    them is raised (inside an array, EXEC's replies, an error stays a value)."""
    for reply in replies:
        if reply.__class__ is ReplyError:
            raise reply
    return replies


class PythonReader:
    """The RESP2 reply parser in Python, with ``hiredis.Reader``'s interface
    (``feed`` bytes, ``gets`` a reply or False while one is incomplete).

    hiredis parses in C and is used when installed (as redis-py does); a
    Lambda bundle built where its hiredis wheel could not be fetched runs this one."""

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

    def _parse(self, position: int, count: int) -> tuple[list[object], int]:
        """``count`` replies from ``position``: (replies, position after).
        Hot (a batch parses hundreds of replies): scalars are parsed in this
        loop, only a nested array costs a call."""
        buffer = self._buffer
        replies: list[object] = []
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


try:  # the C parser, when installed (it is in lamed serve's virtualenv and, for its platform, the bundle)
    from hiredis import Reader as _HiredisReader
except ImportError:
    _HiredisReader = None  # type: ignore[assignment, misc]


def new_reader(use_hiredis: bool = True) -> Any:  # hiredis.Reader or PythonReader: one interface
    if use_hiredis and _HiredisReader is not None:
        return _HiredisReader(protocolError=ProtocolError, replyError=ReplyError)
    return PythonReader()
