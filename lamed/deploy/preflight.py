"""``lamed preflight``: is this machine ready to deploy? One result per check."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from lamed.core.errors import SettingsError
from lamed.core.settings import Settings, load_settings


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    hint: str = ""
    warning: bool = False  # passes, but says something the operator should know
    skipped: bool = False  # cannot be checked from here; not a failure

    def line(self) -> str:
        status = "SKIP" if self.skipped else "FAIL" if not self.ok else "WARN" if self.warning else "PASS"
        hint = f" (fix: {self.hint})" if self.hint and not self.ok else ""
        return f"{status}  {self.name:<12} {self.detail}{hint}"


def run_checks() -> list[Check]:
    try:
        settings = load_settings()
    except SettingsError as error:
        config = Check("config", False, str(error), "correct the file or run `lamed configure`")
        return [config, *_aws_checks(None)]
    checks = [Check("config", True, "valid"), _api_key_check(settings)]
    redis = _redis_check(settings)
    reachable = redis.ok and not redis.skipped
    memory = [_value_sums_check(settings), *_memory_checks(settings)] if reachable else []
    return checks + _aws_checks(settings.aws_region) + [redis, *memory]


def _api_key_check(settings: Settings) -> Check:
    if settings.api_key:  # its length is checked with the settings (MIN_API_KEY_CHARS)
        return Check("api key", True, f"set ({len(settings.api_key)} characters)")
    return Check("api key", False, "missing", "lamed configure --new-api-key")


def _aws_checks(configured_region: Optional[str]) -> list[Check]:
    from lamed.deploy.aws import AwsError, resolve_region

    try:
        region = resolve_region(configured_region)
    except AwsError as error:
        return [Check("aws region", False, str(error)), Check("aws account", False, "skipped: needs a region")]
    return [Check("aws region", True, region), _aws_account_check(region)]


def _aws_account_check(region: str) -> Check:
    from lamed.deploy.aws import Aws, AwsError, aws_errors

    try:
        with aws_errors():
            account = Aws(region).account_id
    except AwsError as error:
        return Check("aws account", False, str(error), "aws configure, or set AWS_PROFILE or AWS_ACCESS_KEY_ID")
    return Check("aws account", True, f"credentials valid for account {account}")


def _redis_check(settings: Settings) -> Check:
    from lamed.core.errors import StoreUnavailable

    hint = "check redis_url, the network path, and that Redis is not read-only"
    if not settings.redis_url:
        return Check("redis", False, "no redis_url configured", "lamed configure --redis-url redis://host:6379/0")
    try:
        _write_and_read_back(settings)
    except StoreUnavailable as error:
        if settings.vpc_subnet_ids and _does_not_answer_here(settings):
            return Check(
                "redis", True, f"does not answer from here ({error}): expected for ElastiCache, which answers only "
                "inside its VPC; `lamed deploy` checks it from inside the function", skipped=True,
            )  # fmt: skip
        return Check("redis", False, str(error), hint)
    return Check("redis", True, "reachable and writable from here")


def _does_not_answer_here(settings: Settings) -> bool:
    """No TCP connection from this machine (as opposed to a Redis that answers and refuses)."""
    from lamed.core.health import check_redis

    return check_redis(settings).get("failed") == "tcp"


def _write_and_read_back(settings: Settings) -> None:
    """Through the client every other part of Lamed uses (the same URL
    reading, TLS checks and timeouts; Redis Cluster too)."""
    from lamed.core.errors import StoreUnavailable
    from lamed.core.keys import KeySchema
    from lamed.store.redis_client import connect, redis_trouble

    key = KeySchema(settings.key_prefix).preflight
    with redis_trouble():
        client = connect(settings.redis_url or "", max(settings.redis_timeout_seconds, 2.0))
        try:
            client.set(key, b"1", ex=60)
            if client.get(key) != b"1":
                raise StoreUnavailable("wrote a value and read back another one")
            client.delete(key)
        finally:
            client.close()


# 2**63 + 1 needs a 64-bit mantissa: what x86-64's long double has and a plain double lacks.
_SUMS_PROBE = 2**63


def _value_sums_check(settings: Settings) -> Check:
    """Whether HINCRBYFLOAT keeps 64 bits, which the sums of squares of goals'
    values rely on (docs/counting.md, "Values")."""
    from lamed.core.errors import StoreUnavailable
    from lamed.core.keys import KeySchema
    from lamed.store.redis_client import connect, redis_trouble

    key = KeySchema(settings.key_prefix).preflight_sums
    try:
        with redis_trouble():
            client = connect(settings.redis_url or "", max(settings.redis_timeout_seconds, 2.0))
            try:
                pipe = client.pipeline(transaction=False)
                pipe.hincrbyfloat(key, "sum", _SUMS_PROBE).expire(key, 60).hincrbyfloat(key, "sum", 1)
                kept = (
                    pipe.hget(key, "sum").delete(key).execute(raise_on_error=True)[3]
                )  # as text: redis-py's float would round
            finally:
                client.close()
    except StoreUnavailable as error:
        return Check("redis sums", False, str(error))
    if int(kept) == _SUMS_PROBE + 1:
        return Check("redis sums", True, "HINCRBYFLOAT keeps 64 bits: sums of squares of values within 1e-12")
    return Check(
        "redis sums", True, "HINCRBYFLOAT keeps fewer than 64 bits (a long double of 53): the sums of squares of "
        "goals' values pass 1e-12 relative error after about 9,000 increments per goal, variant and day",
        warning=True,
    )  # fmt: skip


def _memory_checks(settings: Settings) -> list[Check]:
    """The eviction policy and memory of every master: only noeviction keeps
    counts exact (lamed.core.redis_safety)."""
    from lamed.core.errors import StoreUnavailable
    from lamed.store.results import open_store

    try:
        store = open_store(settings.replace(redis_timeout_seconds=max(settings.redis_timeout_seconds, 2.0)))
        checks = store.memory_checks()
    except StoreUnavailable as error:
        return [Check("redis memory", False, str(error), "allow INFO for Lamed's Redis user")]
    return [_memory_line(check) for check in checks]


def _memory_line(check: Any) -> Check:
    name = "redis memory" if check.node in ("redis", "cluster") else f"memory {check.node}"
    if check.failures:
        return Check(name, False, "; ".join(check.failures))
    if check.warnings:
        return Check(name, True, "; ".join(check.warnings), warning=True)
    return Check(name, True, f"maxmemory-policy {check.policy}, {check.used_memory:,} of {check.maxmemory:,} bytes")
