"""Redis's own memory per expiring key, with no Lamed code: ``used_memory``
delta over n random keys set with ``SET key 1 EX 86400``, for the flag key
sizes around Lamed's flags: 26 bytes with the default prefix ``lamed:``, 30 with
the longest prefix allowed (11 characters), 31 one past it.

    .venv/bin/python -m bench.key_memory
"""

from __future__ import annotations

import os

import redis

from lamed.cli.embedded import RedisServer

SIZES = (50_000, 100_000, 130_000, 200_000, 400_000)
KEY_BYTES = (26, 30, 31)


def bytes_per_key(client: redis.Redis, count: int, key_bytes: int) -> float:
    client.flushall()
    before = client.info("memory")["used_memory"]
    pipe = client.pipeline(transaction=False)
    for index in range(count):
        pipe.set(os.urandom(key_bytes), b"1", ex=86400)
        if index % 5000 == 4999:
            pipe.execute()
    pipe.execute()
    return (client.info("memory")["used_memory"] - before) / count


def main() -> None:
    with RedisServer() as server:
        client = redis.Redis(port=server.port)
        print(f"redis-server {client.info('server')['redis_version']}, bytes per key")
        for count in SIZES:
            figures = ", ".join(f"{size}-byte keys {bytes_per_key(client, count, size):.1f}" for size in KEY_BYTES)
            print(f"{count:>7,} keys: {figures}")
        client.close()


if __name__ == "__main__":
    main()
