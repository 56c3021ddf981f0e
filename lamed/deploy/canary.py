"""Per-version health of the ``live`` alias from Lambda's CloudWatch metrics
(requests, errors, latency), and the guard that rolls a bad canary back."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Optional

from lamed.deploy.aws import Aws
from lamed.deploy.function import AliasState
from lamed.deploy.metrics import next_minute
from lamed.deploy.plan import ALIAS, Names


@dataclass(frozen=True)
class VersionStats:
    version: str
    role: str
    share: float
    requests: int
    errors: int
    average_ms: Optional[float]
    maximum_ms: Optional[float]

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0


def version_stats(aws: Aws, names: Names, alias: AliasState, minutes: int) -> list[VersionStats]:
    """Stable first, then the canary (if any), over the last ``minutes``."""
    roles = [(alias.version, "stable", 1.0 - alias.canary_weight)]
    if alias.canary_version:
        roles.append((alias.canary_version, "canary", alias.canary_weight))
    return [_stats(aws, names, version, role, share, minutes) for version, role, share in roles]


def _stats(aws: Aws, names: Names, version: str, role: str, share: float, minutes: int) -> VersionStats:
    dimensions = [
        {"Name": "FunctionName", "Value": names.function},
        {"Name": "Resource", "Value": f"{names.function}:{ALIAS}"},
        {"Name": "ExecutedVersion", "Value": version},
    ]
    points = {
        metric: _datapoints(aws, metric, dimensions, minutes, statistics)
        for metric, statistics in (
            ("Invocations", ["Sum"]),
            ("Errors", ["Sum"]),
            ("Duration", ["Sum", "SampleCount", "Maximum"]),
        )
    }
    duration_samples = sum(p.get("SampleCount", 0) for p in points["Duration"])
    return VersionStats(
        version=version,
        role=role,
        share=share,
        requests=int(sum(p["Sum"] for p in points["Invocations"])),
        errors=int(sum(p["Sum"] for p in points["Errors"])),
        average_ms=sum(p["Sum"] for p in points["Duration"]) / duration_samples if duration_samples else None,
        maximum_ms=max((p["Maximum"] for p in points["Duration"]), default=None),
    )


def _datapoints(aws: Aws, metric: str, dimensions: list, minutes: int, statistics: list) -> list[dict]:
    end = next_minute()
    response = aws.client("cloudwatch").get_metric_statistics(
        Namespace="AWS/Lambda",
        MetricName=metric,
        Dimensions=dimensions,
        StartTime=end - datetime.timedelta(minutes=minutes),
        EndTime=end,
        Period=60 * minutes,
        Statistics=statistics,
    )
    return response.get("Datapoints", [])


def guard_verdict(stats: list[VersionStats], threshold_percent: float, min_requests: int) -> Optional[str]:
    """Why the canary should be rolled back, or None to keep it."""
    if len(stats) < 2:
        return None
    stable, canary = stats
    if canary.requests < min_requests:
        return None
    excess = (canary.error_rate - stable.error_rate) * 100
    if excess <= threshold_percent:
        return None
    return (
        f"canary version {canary.version} errs on {canary.error_rate:.2%} of {canary.requests} requests, "
        f"stable version {stable.version} on {stable.error_rate:.2%}: {excess:.2f} points over the "
        f"{threshold_percent:g} allowed"
    )


def format_stats(stats: list[VersionStats]) -> list[str]:
    lines = [
        f"{'version':>8} {'role':<7} {'share':>7} {'requests':>9} {'errors':>7} {'error%':>7} {'avg ms':>8} "
        f"{'max ms':>8}"
    ]
    for row in stats:
        lines.append(
            f"{row.version:>8} {row.role:<7} {row.share:>7.1%} {row.requests:>9} {row.errors:>7} "
            f"{row.error_rate:>7.2%} {_ms(row.average_ms):>8} {_ms(row.maximum_ms):>8}"
        )
    return lines


def _ms(value: Optional[float]) -> str:
    return "-" if value is None else f"{value:.1f}"
