"""On moto: `lamed deploy` keeps a CloudWatch dashboard of Lamed's metrics
(idempotent, in --dry-run), and `lamed status` / `lamed canary status`
read the function's own metrics per version (namespace Lamed).

moto stores what PutMetricData sends (the function's EMF lines become the
same metrics in CloudWatch; moto does not read EMF from logs) and answers
GetMetricData's sums, but fails on percentile statistics (p99): there the
commands say "no data" for the p99, which the unit test below reads from
a stubbed CloudWatch instead."""

from __future__ import annotations

import json

import pytest
from test_deploy import aws, calls, configure, deployed, lamed  # noqa: F401 (fixtures)

from lamed.deploy.metrics import dashboard_body, lamed_stats
from lamed.deploy.plan import Names

pytestmark = pytest.mark.slow


def put_lamed_metrics(session, version: str, counted: int, unavailable: int) -> None:
    """What the function's EMF lines give CloudWatch, written directly."""
    dimensions = [{"Name": "FunctionName", "Value": "lamed"}, {"Name": "Version", "Value": version}]
    session.client("cloudwatch").put_metric_data(
        Namespace="Lamed",
        MetricData=[
            {"MetricName": "EventsCounted", "Dimensions": dimensions, "Value": counted, "Unit": "Count"},
            {"MetricName": "Unavailable503", "Dimensions": dimensions, "Value": unavailable, "Unit": "Count"},
            {"MetricName": "TrackDuration", "Dimensions": dimensions, "Values": [1.0, 9.0], "Counts": [99, 1],
             "Unit": "Milliseconds"},
        ],
    )  # fmt: skip


def test_deploy_keeps_a_dashboard_and_the_status_commands_read_lamed_metrics(aws):  # noqa: F811
    configure()
    dry = lamed("deploy", "--dry-run")
    assert "CloudWatch dashboard lamed: Lamed's metrics by version" in dry.output
    assert aws.client("cloudwatch").list_dashboards()["DashboardEntries"] == []

    first = deployed()
    assert "CloudWatch dashboard lamed: created" in first
    body = json.loads(aws.client("cloudwatch").get_dashboard(DashboardName="lamed")["DashboardBody"])
    assert body == json.loads(dashboard_body(Names("lamed"), "us-east-1"))
    assert "CloudWatch dashboard lamed: unchanged" in deployed()

    configure("--uuid-expiry-seconds", "3600")
    deployed("--canary", "20")
    put_lamed_metrics(aws, "1", counted=800, unavailable=3)
    put_lamed_metrics(aws, "1", counted=200, unavailable=0)
    put_lamed_metrics(aws, "2", counted=250, unavailable=7)

    canary = lamed("canary", "status")
    assert canary.exit_code == 0, canary.output
    assert "  version 1: 1000 events counted, 3 503s, /track p99 no data" in canary.output
    assert "  version 2: 250 events counted, 7 503s, /track p99 no data" in canary.output
    assert canary.output.splitlines()[2].split()[:2] == ["1", "stable"]  # Lambda's own table is unchanged


class StubCloudWatch:
    """GetMetricData as CloudWatch answers it, percentiles included."""

    def __init__(self, values: dict) -> None:
        self.values = values

    def client(self, name: str):
        return self

    def get_metric_data(self, MetricDataQueries, StartTime, EndTime):
        results = []
        for query in MetricDataQueries:
            stat = query["MetricStat"]
            key = (stat["Metric"]["MetricName"], stat["Metric"]["Dimensions"][1]["Value"], stat["Stat"])
            results.append({"Id": query["Id"], "Values": self.values.get(key, []), "StatusCode": "Complete"})
        return {"MetricDataResults": results}


def test_the_p99_comes_from_the_percentile_statistic():
    stub = StubCloudWatch({
        ("EventsCounted", "4", "Sum"): [120.0], ("Unavailable503", "4", "Sum"): [2.0],
        ("TrackDuration", "4", "p99"): [8.5],
    })  # fmt: skip
    (stats,) = lamed_stats(stub, Names("lamed"), ["4"], 60)
    assert (stats.counted, stats.unavailable_503, stats.p99_ms) == (120, 2, 8.5)
