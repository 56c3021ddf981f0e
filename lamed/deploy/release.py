"""Moving the ``live`` alias: release a version, start a canary, promote it,
roll back. Each returns a one-line summary for the operator."""

from __future__ import annotations

from typing import Optional

from lamed.deploy.aws import Aws, AwsError
from lamed.deploy.function import AliasState, point_alias, read_alias, require_alias
from lamed.deploy.plan import ALIAS, Names


def release(aws: Aws, names: Names, version: str, canary_percent: Optional[float]) -> tuple[AliasState, str]:
    current = read_alias(aws, names)
    if canary_percent is not None:
        return _start_canary(aws, names, current, version, canary_percent)
    if current is None:
        return point_alias(aws, names, version, previous=None), f"{ALIAS} → version {version}"
    if current.version == version and not current.canary_version:
        return current, f"{ALIAS} already on version {version} (code and config unchanged)"
    alias = point_alias(aws, names, version, previous=current.version)
    return alias, f"{ALIAS}: version {current.version} → {version}"


def require_new_canary(aws: Aws, names: Names, version: str) -> AliasState:
    """A canary needs a live version, other than ``version``, to compare with."""
    current = read_alias(aws, names)
    if current is None:
        raise AwsError("a canary needs a live version to compare with: run `lamed deploy` without --canary first")
    if version == current.version:
        raise AwsError(f"nothing new to canary: version {version} is already live (code and config unchanged)")
    return current


def _start_canary(aws: Aws, names: Names, current: Optional[AliasState], version: str, percent: float):
    current = require_new_canary(aws, names, version)
    alias = point_alias(aws, names, current.version, current.previous, canary=(version, percent / 100))
    return alias, f"{ALIAS}: {percent:g}% to version {version}, {100 - percent:g}% to version {current.version}"


def promote(aws: Aws, names: Names) -> str:
    alias = require_alias(aws, names)
    if not alias.canary_version:
        raise AwsError(f"no canary in progress: {ALIAS} serves version {alias.version} only")
    point_alias(aws, names, alias.canary_version, previous=alias.version)
    return f"{ALIAS}: 100% to version {alias.canary_version} (was {alias.version})"


def rollback(aws: Aws, names: Names, to_version: Optional[str] = None) -> str:
    """Drops a canary in progress, else goes back to the previous (or given) version."""
    alias = require_alias(aws, names)
    if alias.canary_version and not to_version:
        point_alias(aws, names, alias.version, alias.previous)
        return f"{ALIAS}: canary version {alias.canary_version} dropped, 100% to version {alias.version}"
    target = to_version or alias.previous
    if not target:
        raise AwsError(f"no previous version recorded for {ALIAS}: use `lamed rollback --to VERSION`")
    _require_version(aws, names, target)
    # No "previous" after a rollback: a second rollback must not return to the bad version.
    point_alias(aws, names, target, previous=None)
    return f"{ALIAS}: version {alias.version} → {target} (rolled back)"


def _require_version(aws: Aws, names: Names, version: str) -> None:
    from botocore.exceptions import ClientError

    try:
        aws.client("lambda").get_function_configuration(FunctionName=names.function, Qualifier=version)
    except ClientError:
        raise AwsError(f"{names.function} has no version {version}") from None
