"""The function's own metrics in CloudWatch (namespace ``Lamed``, written by
the function as Embedded Metric Format lines: :mod:`lamed.web.emf`): what
``lamed status`` and ``lamed canary status`` show per version, and the
CloudWatch dashboard ``lamed deploy`` keeps (idempotent: written only when
its body changed)."""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass
from typing import Optional

from botocore.exceptions import ClientError

from lamed.deploy.aws import Aws
from lamed.deploy.plan import ALIAS, Names
from lamed.web.emf import DIMENSIONS, NAMESPACE, OUTCOME_METRICS

PERIOD_SECONDS = 60
MISSING_DASHBOARD = ("ResourceNotFound", "ResourceNotFoundException", "DashboardNotFoundError")


@dataclass(frozen=True)
class LamedStats:
    """One version's counting over a window: events counted, 503 answers,
    and /track's duration at the 99th percentile (None: no data)."""

    version: str
    counted: int
    unavailable_503: int
    p99_ms: Optional[float]


def lamed_stats(aws: Aws, names: Names, versions: list[str], minutes: int) -> list[LamedStats]:
    """Per version: the sums in one GetMetricData call, the p99s in another
    (a CloudWatch that cannot give percentiles, such as moto, then leaves
    them unknown instead of failing the sums)."""
    end = next_minute()
    sums = {f"{key}{index}": (version, metric, "Sum")
            for index, version in enumerate(versions)
            for key, metric in (("c", "EventsCounted"), ("u", "Unavailable503"))}  # fmt: skip
    percentiles = {f"p{index}": (version, "TrackDuration", "p99") for index, version in enumerate(versions)}
    values = _metric_data(aws, names, sums, minutes, end)
    try:
        values.update(_metric_data(aws, names, percentiles, minutes, end))
    except ClientError:
        pass
    return [
        LamedStats(
            version=version,
            counted=int(sum(values.get(f"c{index}", []))),
            unavailable_503=int(sum(values.get(f"u{index}", []))),
            p99_ms=max(values[f"p{index}"]) if values.get(f"p{index}") else None,
        )
        for index, version in enumerate(versions)
    ]


def _metric_data(aws: Aws, names: Names, queries: dict, minutes: int, end: datetime.datetime) -> dict:
    """``{query id: values}`` for ``{query id: (version, metric, stat)}``."""
    response = aws.client("cloudwatch").get_metric_data(
        MetricDataQueries=[_query(qid, names.function, *query, minutes) for qid, query in queries.items()],
        StartTime=end - datetime.timedelta(minutes=minutes),
        EndTime=end,
    )
    return {result["Id"]: result.get("Values") or [] for result in response.get("MetricDataResults", [])}


def _query(query_id: str, function: str, version: str, metric: str, stat: str, minutes: int) -> dict:
    return {
        "Id": query_id,
        "MetricStat": {
            "Metric": {
                "Namespace": NAMESPACE,
                "MetricName": metric,
                "Dimensions": [{"Name": "FunctionName", "Value": function}, {"Name": "Version", "Value": version}],
            },
            "Period": 60 * minutes,  # one figure for the window
            "Stat": stat,
        },
        "ReturnData": True,
    }


def next_minute() -> datetime.datetime:
    """The end of a metrics window that includes the current minute."""
    now = datetime.datetime.now(datetime.UTC)
    return now.replace(second=0, microsecond=0) + datetime.timedelta(minutes=1)


def format_lamed_stats(stats: list[LamedStats]) -> list[str]:
    lines = [f"Lamed's own metrics (namespace {NAMESPACE}):"]
    for row in stats:
        p99 = "no data" if row.p99_ms is None else f"{row.p99_ms:.1f} ms"
        lines.append(
            f"  version {row.version}: {row.counted} events counted, {row.unavailable_503} 503s, /track p99 {p99}"
        )
    return lines


# -- the CloudWatch dashboard ---------------------------------------------


def dashboard_name(names: Names) -> str:
    return names.base


def _search(names: Names, metric: str, stat: str) -> str:
    """Every version's series of ``metric`` (a SEARCH finds new versions by itself)."""
    schema = "{" + ",".join((NAMESPACE, *DIMENSIONS)) + "}"
    return f"SEARCH('{schema} MetricName=\"{metric}\" FunctionName=\"{names.function}\"', '{stat}', {PERIOD_SECONDS})"


def _lambda_search(names: Names, metric: str) -> str:
    """Lambda's own ``metric`` for each version the live alias ran."""
    schema = "{AWS/Lambda,FunctionName,Resource,ExecutedVersion}"
    return (
        f'SEARCH(\'{schema} MetricName="{metric}" FunctionName="{names.function}" '
        f"Resource=\"{names.function}:{ALIAS}\"', 'Sum', {PERIOD_SECONDS})"
    )


def dashboard_body(names: Names, region: str) -> str:
    """The dashboard's JSON: Lamed's metrics by version, and Lambda's own."""

    def widget(title: str, expressions: list[tuple[str, str]], x: int, y: int, stat_note: str = "") -> dict:
        # A SEARCH gives a series per version; the label names it (a dynamic label).
        version = "ExecutedVersion" if "AWS/Lambda" in expressions[0][1] else "Version"
        metrics = [[{"expression": expression, "id": f"e{index}", "label": f"{label} v${{PROP('Dim.{version}')}}"}]
                   for index, (label, expression) in enumerate(expressions)]  # fmt: skip
        return {
            "type": "metric",
            "x": x,
            "y": y,
            "width": 12,
            "height": 6,
            "properties": {
                "title": title + stat_note,
                "region": region,
                "view": "timeSeries",
                "stacked": False,
                "period": PERIOD_SECONDS,
                "metrics": metrics,
            },
        }

    outcomes = [(outcome, _search(names, metric, "Sum")) for outcome, metric in OUTCOME_METRICS.items()]
    widgets = [
        widget("Events by outcome, per version", outcomes, 0, 0, " (sum a minute)"),
        widget("503 answers, per version", [("503", _search(names, "Unavailable503", "Sum"))], 12, 0),
        widget("/track duration p99, per version (ms)", [("p99", _search(names, "TrackDuration", "p99"))], 0, 6),
        widget("Redis round trip p99, per version (ms)", [("p99", _search(names, "RedisRoundTrip", "p99"))], 12, 6),
        widget("Invocations, per version (AWS/Lambda)", [("invocations", _lambda_search(names, "Invocations"))], 0, 12),
        widget("Lambda errors, per version (AWS/Lambda)", [("errors", _lambda_search(names, "Errors"))], 12, 12),
    ]
    return json.dumps({"widgets": widgets}, sort_keys=True, separators=(",", ":"))


def ensure_dashboard(aws: Aws, names: Names, region: str) -> str:
    """Writes the dashboard if it is missing or differs; a line for the operator."""
    client = aws.client("cloudwatch")
    name = dashboard_name(names)
    body = dashboard_body(names, region)
    try:
        current = client.get_dashboard(DashboardName=name).get("DashboardBody")
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") not in MISSING_DASHBOARD:
            raise
        current = None
    if current is not None and json.loads(current) == json.loads(body):
        return f"CloudWatch dashboard {name}: unchanged"
    client.put_dashboard(DashboardName=name, DashboardBody=body)
    return f"CloudWatch dashboard {name}: {'created' if current is None else 'updated'}"
