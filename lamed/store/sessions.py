"""Dashboard sessions and the login throttle, in Redis under the key prefix
(see :mod:`lamed.core.keys`), so every worker and Lambda instance sees the
same: a logout ends the session everywhere, and wrong logins are counted
per client address whichever process answers them."""

from __future__ import annotations

from typing import Any, Optional

from lamed.core.keys import KeySchema
from lamed.store.redis_client import redis_trouble


class Sessions:
    """Open sessions (by token) and wrong logins (by client address). Redis
    trouble surfaces as StoreUnavailable (a 503)."""

    def __init__(self, client: Any, keys: KeySchema) -> None:
        self.client = client
        self.keys = keys
        self.trouble = redis_trouble()

    def open(self, token: str, seconds: int) -> None:
        with self.trouble:
            self.client.set(self.keys.session_key(token), 1, ex=seconds)

    def is_open(self, token: str) -> bool:
        with self.trouble:
            return bool(self.client.exists(self.keys.session_key(token)))

    def close(self, token: str) -> None:
        with self.trouble:
            self.client.delete(self.keys.session_key(token))

    def failed_logins(self, client_address: str, window: int) -> int:
        with self.trouble:
            count: Optional[bytes] = self.client.get(self.keys.login_failures_key(client_address, window))
        return int(count or 0)

    def count_failed_login(self, client_address: str, window: int, window_seconds: int) -> None:
        key = self.keys.login_failures_key(client_address, window)
        with self.trouble:
            pipeline = self.client.pipeline(transaction=False)
            pipeline.incr(key)
            pipeline.expire(key, window_seconds)
            pipeline.execute()
