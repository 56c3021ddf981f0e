"""Configuration: ``~/.lamed/config.json`` and ``LAMED_*`` environment
variables folded into one immutable :class:`Settings`. The environment wins,
so a Lambda (configured by env vars) needs no file at all.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, NamedTuple, Optional

from lamed.core.errors import SettingsError
from lamed.core.events import DEFAULT_NAMESPACE
from lamed.core.keys import DEFAULT_PREFIX, check_prefix
from lamed.core.redis_url import connection_options

ENV_PREFIX = "LAMED_"
# The statistics' choices, named once here (where settings validate them) and
# used by name in lamed.stats, the dashboard and definitions.
SEQUENTIAL, FIXED = "sequential", "fixed"
DECIDING_TESTS = (SEQUENTIAL, FIXED)
HOLM, BENJAMINI_HOCHBERG = "holm", "bh"
COMPARISON_CORRECTIONS = (HOLM, BENJAMINI_HOCHBERG)
COMPARISON_FAMILIES = ("experiment", "goal")
SLACK, JSON = "slack", "json"
NOTIFY_FORMATS = (SLACK, JSON)
MAX_NOTIFY_INTERVAL_SECONDS = 7 * 86400
# Where a decision may be POSTed: https anywhere, http only on loopback (tests, a local relay).
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")
# API Gateway refuses API keys shorter than this; the dashboard login uses the same key.
MIN_API_KEY_CHARS = 20


class Settings(NamedTuple):
    """Immutable settings, each default written here only. A NamedTuple, not
    a dataclass: settings are read on the Lambda track path, where importing
    dataclasses costs 17-25 ms of a cold start (typing: 2-3 ms). ``extra``
    holds config-file keys of other tools (``api_url``, ``deploy_name``...)."""

    redis_url: Optional[str] = None
    api_key: Optional[str] = None
    uuid_expiry_seconds: int = 86400
    namespace: str = DEFAULT_NAMESPACE  # the dashboard's and the CLI's default
    redis_timeout_seconds: float = 0.5
    definition_cache_seconds: float = 10.0
    watch_retries: int = 5
    track_mode: str = "watch"  # "lua": the optional one-round-trip counting (lamed.core.counting)
    # Bounds on what anonymous clients can invent (lamed.core.limits; sizing in docs/operating-redis.md).
    max_namespaces: int = 100
    max_experiments: int = 1000
    max_experiments_per_namespace: int = 1000
    max_variants_per_experiment: int = 50
    max_goals_per_experiment: int = 20
    allowed_namespaces: tuple[str, ...] = ()  # empty: any namespace
    count_only_defined: bool = False  # True: only experiments with a definition are counted
    aws_region: Optional[str] = None
    track_paths: tuple[str, ...] = ()
    key_prefix: str = DEFAULT_PREFIX
    # Dashboard statistics (docs/statistics.md). deciding_test: "sequential"
    # (always-valid, safe to look at every day) or "fixed" (fixed-horizon z-test).
    deciding_test: str = SEQUENTIAL
    alpha: float = 0.05
    sequential_tuning_parameter: float = 5000.0  # GrowthBook's default
    comparison_correction: str = HOLM  # or BENJAMINI_HOCHBERG ("bh")
    comparison_family: str = "experiment"  # or "goal": adjust within each goal only
    mde: float = 0.10  # minimum detectable relative effect
    # The function's VPC (ElastiCache answers only inside one). None: not
    # managed by Lamed (a VPC set by hand stays); (): explicitly none.
    vpc_subnet_ids: Optional[tuple[str, ...]] = None
    vpc_security_group_ids: Optional[tuple[str, ...]] = None
    # API Gateway stage throttling set by lamed deploy: requests/s and burst, for
    # everyone together (docs/operating-redis.md sizes Redis from the rate).
    track_rate_limit: float = 100.0
    track_burst_limit: int = 200
    # A POST when an experiment's decision changes (docs/notifications.md):
    # an https URL (http on loopback only), a body format, how often to check.
    notify_url: Optional[str] = None
    notify_format: str = SLACK  # or JSON
    notify_interval_seconds: int = 3600
    # The deployment's base URL, for links to the dashboard in notifications.
    public_url: Optional[str] = None
    # The function's CPU: x86_64 or arm64 (about 20% cheaper). None: arm64 for a
    # new function, an existing one keeps its own (docs/deploy.md).
    architecture: Optional[str] = None
    # The front door of /track for snippets: "function_url" (a Lambda function
    # URL on the live alias, no API Gateway charge) or "rest_api".
    track_endpoint: str = "function_url"
    # The function's reserved concurrency, the bound on what reaches the
    # function and Redis through the function URL (0: none; docs/deploy.md).
    reserved_concurrency: int = 5
    log_retention_days: int = 30  # the function's CloudWatch log group
    # What Lamed logs: "info" (lamed serve's line per request, and errors),
    # "warning", "error"; the function writes its errors at any level.
    log_level: str = "info"
    # CloudWatch metrics from the function (Embedded Metric Format, one log
    # line a minute per execution environment; docs/deploy.md prices them).
    cloudwatch_metrics: bool = True
    extra: Mapping[str, object] = MappingProxyType({})

    def replace(self, **changes: Any) -> Settings:
        return self._replace(**changes)


_CONFIGURABLE = Settings._fields[:-1]  # all but extra
# Lists whose default None means "not set", apart from an explicit empty list.
_OPTIONAL_LISTS = ("vpc_subnet_ids", "vpc_security_group_ids")
# How a setting's text (env var, JSON) is read: the type of its default (None: text).
_KINDS = {name: type(Settings._field_defaults[name]) for name in _CONFIGURABLE}
_KINDS.update((name, tuple) for name in _OPTIONAL_LISTS)
ARCHITECTURES = ("x86_64", "arm64")
NEW_FUNCTION_ARCHITECTURE = "arm64"  # when architecture is unset: about 20% cheaper per GB-second
TRACK_ENDPOINTS = ("function_url", "rest_api")
LOG_LEVELS = ("debug", "info", "warning", "error")
# The retention periods CloudWatch Logs accepts, in days.
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731)
LOG_RETENTION_DAYS_YEARS = (1096, 1827, 2192, 2557, 2922, 3288, 3653)


DEFAULTS = Settings()


# Paths are plain strings (os.path), not pathlib: settings are read on the
# Lambda track path, and pathlib is a cold start's millisecond.
def default_config_path() -> str:
    explicit = os.environ.get("LAMED_CONFIG")
    if explicit:
        return explicit
    return os.path.join(os.path.expanduser("~"), ".lamed", "config.json")


def load_settings(path: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Reads the config file (if any), then the environment on top of it."""
    environ = os.environ if environ is None else environ
    path = os.fspath(path or default_config_path())
    values: dict[str, Any] = dict(read_config_file(path))
    for name in _CONFIGURABLE:
        env_value = environ.get(ENV_PREFIX + name.upper())
        if env_value is not None:
            values[name] = env_value
    return settings_from_mapping(values, source=str(path))


def read_config_file(path: str | os.PathLike[str]) -> dict[str, object]:
    try:
        with open(path, encoding="utf-8") as handle:
            document = json.load(handle)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as error:
        raise SettingsError(f"{path}: cannot read config: {error}") from None
    if not isinstance(document, dict):
        raise SettingsError(f"{path}: config must be a JSON object")
    return document


def write_config_file(path: str | os.PathLike[str], values: Mapping[str, object]) -> None:
    """Writes the config readable by its owner only: it holds the API key."""
    os.makedirs(os.path.dirname(os.fspath(path)) or ".", mode=0o700, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(dict(values), handle, indent=2, sort_keys=True)
        handle.write("\n")
    os.chmod(path, 0o600)


def settings_from_mapping(values: Mapping[str, Any], source: str = "config") -> Settings:
    known = {name: _coerce(name, value, source) for name, value in values.items() if name in _KINDS}
    extra = {name: value for name, value in values.items() if name not in _KINDS}
    settings = Settings(**known, extra=extra)
    _validate(settings, source)
    return settings


def _coerce(name: str, value: Any, source: str) -> Any:
    kind = _KINDS[name]
    if value == "" and name in _OPTIONAL_LISTS:
        return ()  # LAMED_VPC_SUBNET_IDS="" clears the list, explicitly
    if value is None or value == "":
        return Settings._field_defaults[name]
    try:
        if kind is int:
            if isinstance(value, bool):
                raise ValueError("a boolean is not a number")
            return int(value)
        if kind is float:
            return float(value)
        if kind is bool:
            return _boolean(value)
        if kind is tuple:
            if isinstance(value, str):
                value = [part.strip() for part in value.split(",") if part.strip()]
            return tuple(str(part) for part in value)
    except (TypeError, ValueError) as error:
        expected = {int: "an integer", float: "a number", tuple: "a list", bool: "true or false"}[kind]
        raise SettingsError(f"{source}: {name} must be {expected}, got {value!r} ({error})") from None
    if not isinstance(value, str):
        raise SettingsError(f"{source}: {name} must be a string, got {value!r}")
    return value


_LIMITS = [name for name in _CONFIGURABLE if name.startswith("max_")]
_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    raise ValueError("expected true or false")


def _validate(settings: Settings, source: str) -> None:
    if settings.uuid_expiry_seconds < 1:
        raise SettingsError(f"{source}: uuid_expiry_seconds must be at least 1")
    if not 0 < settings.redis_timeout_seconds <= 30:
        raise SettingsError(f"{source}: redis_timeout_seconds must be in (0, 30]")
    if not 0 <= settings.definition_cache_seconds <= 3600:
        raise SettingsError(f"{source}: definition_cache_seconds must be between 0 and 3600 seconds")
    if not 1 <= settings.watch_retries <= 100:
        raise SettingsError(f"{source}: watch_retries must be between 1 and 100")
    if settings.track_mode not in ("watch", "lua"):
        raise SettingsError(f"{source}: track_mode must be watch (the default) or lua")
    if settings.redis_url:
        try:
            connection_options(settings.redis_url, settings.redis_timeout_seconds)
        except ValueError as error:
            raise SettingsError(f"{source}: redis_url {error}") from None
    for name in _LIMITS:
        if getattr(settings, name) < 1:
            raise SettingsError(f"{source}: {name} must be at least 1")
    if settings.api_key is not None and len(settings.api_key) < MIN_API_KEY_CHARS:
        raise SettingsError(
            f"{source}: api_key must be at least {MIN_API_KEY_CHARS} characters (API Gateway refuses shorter keys)"
        )
    try:
        check_prefix(settings.key_prefix)
    except SettingsError as error:
        raise SettingsError(f"{source}: {error}") from None
    _validate_statistics(settings, source)
    _validate_vpc(settings, source)
    _validate_notify(settings, source)
    _validate_deployment(settings, source)
    if not 0 < settings.track_rate_limit <= 1_000_000 or not 0 < settings.track_burst_limit <= 5_000_000:
        raise SettingsError(f"{source}: track_rate_limit and track_burst_limit must be positive")
    for path in settings.track_paths:
        if not path.startswith("/") or path.strip("/") == "":
            raise SettingsError(f"{source}: track path {path!r} must start with / and name a path")


def _validate_statistics(settings: Settings, source: str) -> None:
    choices = (
        ("deciding_test", settings.deciding_test, DECIDING_TESTS),
        ("comparison_correction", settings.comparison_correction, COMPARISON_CORRECTIONS),
        ("comparison_family", settings.comparison_family, COMPARISON_FAMILIES),
    )
    for name, value, allowed in choices:
        if value not in allowed:
            raise SettingsError(f"{source}: {name} must be one of {', '.join(allowed)}, got {value!r}")
    if not 0 < settings.alpha < 0.5:
        raise SettingsError(f"{source}: alpha must be in (0, 0.5)")
    if not 0 < settings.sequential_tuning_parameter < 1e12:
        raise SettingsError(f"{source}: sequential_tuning_parameter must be a positive number")
    if not 0 < settings.mde <= 10:
        raise SettingsError(f"{source}: mde must be in (0, 10] (a relative effect: 0.1 is 10%)")


def _validate_deployment(settings: Settings, source: str) -> None:
    if settings.architecture is not None and settings.architecture not in ARCHITECTURES:
        raise SettingsError(f"{source}: architecture must be x86_64 or arm64 (unset: arm64 for a new function)")
    if settings.track_endpoint not in TRACK_ENDPOINTS:
        raise SettingsError(f"{source}: track_endpoint must be function_url (the default) or rest_api")
    if not 0 <= settings.reserved_concurrency <= 100_000:
        raise SettingsError(f"{source}: reserved_concurrency must be between 0 (none) and 100000")
    if settings.log_level not in LOG_LEVELS:
        raise SettingsError(f"{source}: log_level must be one of {', '.join(LOG_LEVELS)}, got {settings.log_level!r}")
    if settings.log_retention_days not in LOG_RETENTION_DAYS + LOG_RETENTION_DAYS_YEARS:
        allowed = ", ".join(map(str, LOG_RETENTION_DAYS + LOG_RETENTION_DAYS_YEARS))
        raise SettingsError(f"{source}: log_retention_days must be one of {allowed}")


def _validate_vpc(settings: Settings, source: str) -> None:
    subnets, groups = settings.vpc_subnet_ids, settings.vpc_security_group_ids
    if bool(subnets) != bool(groups):
        raise SettingsError(f"{source}: vpc_subnet_ids and vpc_security_group_ids go together: set both, or clear both")
    for name, ids, start in (("vpc_subnet_ids", subnets, "subnet-"), ("vpc_security_group_ids", groups, "sg-")):
        for one in ids or ():
            if not one.startswith(start):
                raise SettingsError(f"{source}: {name}: {one!r} is not an id starting with {start}")


def _validate_notify(settings: Settings, source: str) -> None:
    if settings.notify_format not in NOTIFY_FORMATS:
        raise SettingsError(f"{source}: notify_format must be one of {', '.join(NOTIFY_FORMATS)}")
    if not 1 <= settings.notify_interval_seconds <= MAX_NOTIFY_INTERVAL_SECONDS:
        raise SettingsError(f"{source}: notify_interval_seconds must be between 1 and {MAX_NOTIFY_INTERVAL_SECONDS}")
    if settings.notify_url and not notify_url_allowed(settings.notify_url):
        raise SettingsError(f"{source}: notify_url must be an https URL (http only on 127.0.0.1 or localhost)")
    if settings.public_url and not settings.public_url.startswith(("https://", "http://")):
        raise SettingsError(f"{source}: public_url must start with https:// or http://")


def notify_url_allowed(url: str) -> bool:
    """https anywhere; http only to a loopback host (a webhook gets decisions
    and experiment names, which must not cross a network in clear)."""
    scheme, sep, rest = url.partition("://")
    host = rest.split("/", 1)[0].rsplit("@", 1)[-1]
    if not sep or not host or any(c.isspace() for c in url):
        return False
    if scheme == "https":
        return True
    hostname = host if host.endswith("]") else host.rsplit(":", 1)[0]  # without the port
    return scheme == "http" and hostname in LOOPBACK_HOSTS
