"""Lamed writes nothing outside its key prefix: after every kind of write,
``redis-cli --scan`` on the server shows only keys under the prefix."""

from __future__ import annotations

import pytest
from conftest import API_KEY, scanned_keys, write_through_every_path

from lamed.core.settings import Settings


@pytest.mark.parametrize("prefix", ["lamed:", "shop:ab:"])
def test_every_key_is_under_the_prefix(redis_server, redis_url, prefix):
    write_through_every_path(Settings(redis_url=redis_url, api_key=API_KEY, key_prefix=prefix))
    found = scanned_keys(redis_server.port)
    assert len(found) > 10  # flags, counters, registries, definitions were written
    assert [key for key in found if not key.startswith(prefix.encode())] == []
    assert any(key.startswith(prefix.encode() + b"{") and b":counts:" not in key for key in found)  # flags
    assert any(key.startswith(prefix.encode() + b"{") and b":values:" in key for key in found)  # goals' values
