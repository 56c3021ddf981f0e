"""``GET /openapi.json`` lists every route, and schemathesis, driven by it,
never gets a 5xx from the running server (with and without the API key)."""

from __future__ import annotations

import json
import os
import urllib.request
from collections import Counter

import pytest
import schemathesis
from conftest import API_KEY
from hypothesis import HealthCheck, given, settings

from app import app

EXAMPLES = int(os.environ.get("LAMED_SCHEMATHESIS_EXAMPLES", "15"))


def _document(base_url: str) -> dict:
    with urllib.request.urlopen(f"{base_url}/openapi.json", timeout=10) as response:
        assert response.status == 200
        return json.loads(response.read())


def test_document_lists_every_route_and_marks_protected_ones(live_server):
    document = _document(live_server.url)
    assert document["openapi"].startswith("3.")
    published = {(method.upper(), path) for path, item in document["paths"].items() for method in item}
    routed = {(method, path) for path, methods in app.routes.items() for method in methods}
    assert published == routed
    assert ("GET", "/openapi.json") in published
    paths = document["paths"]
    assert paths["/experiments"]["get"]["security"] == [{"apiKey": []}]
    assert "security" not in paths["/track"]["get"]
    assert {p["name"] for p in paths["/track"]["get"]["parameters"]} >= {"experiment", "variant", "event", "uuid"}


@pytest.mark.parametrize("with_key", [True, False], ids=["api-key", "anonymous"])
def test_schemathesis_finds_no_server_error(live_server, with_key):
    schema = schemathesis.openapi.from_dict(_document(live_server.url))
    headers = {"x-api-key": API_KEY} if with_key else {}
    failures = []
    statuses: Counter = Counter()
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == sum(len(methods) for methods in app.routes.values())
    for operation in operations:

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def probe(case):
            response = case.call(base_url=live_server.url, headers=headers, timeout=10)
            statuses[response.status_code // 100 * 100] += 1
            if response.status_code >= 500:
                failures.append((case.method, case.formatted_path, case.query, response.status_code, response.text))

        probe()
    assert not failures, failures[:5]
    assert statuses[200] and statuses[400], statuses  # it reached real answers, not only refusals
    print(f"schemathesis ({'with' if with_key else 'without'} key): {dict(statuses)}")
