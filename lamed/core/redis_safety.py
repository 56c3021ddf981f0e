"""Whether a Redis can keep Lamed's counts exact: its eviction policy and
memory, judged from ``INFO memory`` (ElastiCache allows ``INFO``, not
``CONFIG GET``). Read by ``lamed preflight`` and ``GET /health`` on every
master. Pure: the readers fetch ``INFO``, this module judges it.

Only ``noeviction`` keeps counts exact: any other policy lets Redis evict
keys under memory pressure: with ``volatile-*`` the expiring dedup flags go
first (resends then count twice), with ``allkeys-*`` counters too (counts
lost). Under ``noeviction`` a full Redis refuses writes instead: Lamed
answers 503, and the client's retry counts the event once there is room.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, NamedTuple

from lamed.core.errors import StoreUnavailable

SAFE_POLICY = "noeviction"
WARN_AT_FRACTION = 0.8
# Room below maxmemory that counts as full: Redis counts the query buffer of
# the command it is about to run, and Lamed's largest write (a batch of 100
# events) holds about 30 KB there, so a Redis this close refuses it while a
# small write, and INFO's used_memory, still pass.
WRITE_ROOM_BYTES = 64 * 1024
# How long an OOM refusal of Lamed's writes keeps /health at 503 unless a
# write goes through first: long enough for a load balancer's next check.
REFUSED_RECENTLY_SECONDS = 10.0
POLICY_FIX = (
    "set maxmemory-policy noeviction (ElastiCache: a parameter group with maxmemory-policy noeviction; "
    "redis.conf or CONFIG SET elsewhere)"
)
NO_INFO = (
    "INFO is not permitted for this Redis user, so the eviction policy cannot be checked from here; "
    "make sure it is noeviction, or allow the user +info"
)


class MemoryCheck(NamedTuple):
    """One master's verdict. ``failures`` make preflight fail; ``warnings`` do not."""

    node: str
    maxmemory: int | None
    used_memory: int | None
    policy: str | None
    failures: tuple[str, ...]
    warnings: tuple[str, ...]

    @property
    def refuses_writes(self) -> bool:
        """Full under noeviction: Redis answers Lamed's writes with OOM (or
        will, for a batch: less than WRITE_ROOM_BYTES left)."""
        if not self.maxmemory or self.used_memory is None:
            return False
        return self.policy == SAFE_POLICY and self.used_memory >= full_at(self.maxmemory)

    def to_dict(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "maxmemory": self.maxmemory,
            "used_memory": self.used_memory,
            "maxmemory_policy": self.policy,
            "refuses_writes": self.refuses_writes,
            "failures": list(self.failures),
            "warnings": list(self.warnings),
        }


def full_at(maxmemory: int) -> int:
    """The used memory from which Lamed's writes are refused (or soon will be):
    WRITE_ROOM_BYTES below maxmemory, or a twentieth of a tiny one."""
    return maxmemory - min(WRITE_ROOM_BYTES, maxmemory // 20)


def parse_info(text: str) -> dict[str, str]:
    """``INFO``'s ``name:value`` lines as a mapping (sections and comments skipped)."""
    pairs = (line.partition(":") for line in text.splitlines() if line and not line.startswith("#"))
    return {name: value.strip() for name, _, value in pairs}


def check_memory(node: str, info: Mapping[str, Any] | None) -> MemoryCheck:
    """The verdict on one master's ``INFO memory`` (None: INFO not permitted)."""
    if info is None:
        return MemoryCheck(node, None, None, None, (), (NO_INFO,))
    maxmemory, used = int(info.get("maxmemory", 0)), int(info.get("used_memory", 0))
    policy = str(info.get("maxmemory_policy", ""))
    failures, warnings = [], []
    if policy != SAFE_POLICY:
        failures.append(f"maxmemory-policy is {policy}: Redis may evict Lamed's keys and miscount; {POLICY_FIX}")
    if not maxmemory:
        warnings.append("maxmemory is 0 (no limit): Redis may take all of the host's memory")
    elif used >= full_at(maxmemory):
        warnings.append(f"memory is full ({used:,} of {maxmemory:,} bytes): writes are refused")
    elif used > WARN_AT_FRACTION * maxmemory:
        warnings.append(f"memory is {used / maxmemory:.0%} used ({used:,} of {maxmemory:,} bytes)")
    return MemoryCheck(node, maxmemory, used, policy, tuple(failures), tuple(warnings))


class MemoryRefusals:
    """Whether this process's writes are being refused for memory: an OOM
    reply in the last :data:`REFUSED_RECENTLY_SECONDS`, with no write since.

    ``INFO``'s ``used_memory`` is not enough: Redis refuses a command on the
    memory it counts at that moment, which can sit just below the line INFO
    shows, so ``/health`` asks the writes themselves."""

    def __init__(self) -> None:
        self._refused_at: float | None = None

    def failed(self, error: StoreUnavailable) -> None:
        if error.code == "OOM":
            self._refused_at = time.monotonic()

    def wrote(self) -> None:
        self._refused_at = None

    def refusing(self) -> bool:
        refused_at = self._refused_at
        return refused_at is not None and time.monotonic() - refused_at < REFUSED_RECENTLY_SECONDS
