"""A value goal's table, chart and decision on the experiment page, in a real
browser (Chromium through Playwright), equal the JSON export's figures
(issue 23). Values are tracked through POST /track and GET /track on real Redis."""

from __future__ import annotations

import json
import random
from urllib.parse import quote, urlencode

import pytest
from conftest import API_KEY, http
from test_dashboard_browser import DESKTOP, log_in, open_page

from lamed.dashboard import views

pytestmark = pytest.mark.browser


@pytest.fixture
def shop(store, live_server):
    """900 participants per variant; B sells more, and larger orders. Purchases go in
    as visitors send them: a batch POST, and single GETs with the value in
    the query (two of them resent with another value: duplicates)."""
    draw = random.Random(23)
    batch, singles = [], []
    for variant, rate, mean in (("control", 0.09, 25.0), ("B", 0.2, 40.0)):
        for i in range(900):
            uuid = f"{variant}-{i}"
            batch.append({"experiment": "shop", "variant": variant, "event": "participate", "uuid": uuid})
            if draw.random() < rate:
                value = round(draw.lognormvariate(0, 0.5) * mean, 2)
                purchase = {"experiment": "shop", "variant": variant, "event": "purchase", "uuid": uuid, "value": value}
                (singles if len(singles) < 10 else batch).append(purchase)
    headers = {"content-type": "application/json"}
    for start in range(0, len(batch), 500):
        body = json.dumps(batch[start : start + 500]).encode()
        assert http("POST", f"{live_server.url}/track", body, headers).status == 200
    for purchase in singles:
        query = urlencode({key: str(value) for key, value in purchase.items()})
        assert http("GET", f"{live_server.url}/track?{query}").json()["status"] == "counted"
    for purchase in singles[:2]:
        resent = urlencode({**{key: str(value) for key, value in purchase.items()}, "value": "999.99"})
        assert http("GET", f"{live_server.url}/track?{resent}").json()["status"] == "duplicate"
    definition = {"variants": {"control": 1, "B": 1}, "control": "control", "primary_goal": "purchase"}
    auth = {"x-api-key": API_KEY, "content-type": "application/json"}
    assert http("PUT", f"{live_server.url}/definitions/shop", json.dumps(definition).encode(), auth).status == 201
    return store


def test_the_value_table_chart_and_decision_equal_the_json_export(browser, live_server, shop, artifacts_dir):
    context, page, dialogs = open_page(browser, DESKTOP)
    try:
        log_in(page, live_server)
        page.goto(f"{live_server.url}/dashboard/shop")
        response = page.context.request.get(
            f"{live_server.url}/dashboard/export?experiment={quote('shop')}&format=json"
        )
        document = response.json()
        assert document["primary_goal"] == "purchase"
        (goal,) = document["value_statistics"]
        section = page.locator('section.value-goal[data-goal="purchase"]')
        assert section.is_visible()

        # The decision: about the value goal, as the export words it.
        lines = page.locator("#decision .decision-line")
        assert lines.all_inner_texts() == [line["text"] for line in document["decisions"]]
        assert [line["goal"] for line in document["decisions"]] == ["purchase"]
        assert lines.first.get_attribute("data-kind") == document["decision"]["kind"] == "ship"
        assert document["decision"]["variant"] == "B"

        # The table: every figure, as shown and as data.
        assert section.locator(".days-remaining strong").inner_text() == views.day_count(goal["days_remaining"])
        for figures in goal["variants"]:
            row = section.locator(f'table.value-figures tr[data-variant="{figures["label"]}"]')
            assert int(row.locator("td.participants").inner_text()) == figures["participants"]
            assert int(row.locator("td.conversions").inner_text()) == figures["conversions"]
            assert row.locator("td.total-value").inner_text() == views.amount(figures["total_value"])
            assert float(row.get_attribute("data-total-value")) == figures["total_value"]
            shown = row.locator("td.value-per-participant")
            assert shown.locator(".value").inner_text() == views.amount(figures["value_per_participant"])
            interval = f"{views.amount(figures['value_low'])} – {views.amount(figures['value_high'])}"
            assert shown.locator(".interval").inner_text() == interval
            assert float(row.get_attribute("data-value-per-participant")) == figures["value_per_participant"]
            if figures["is_control"]:
                continue
            assert float(row.get_attribute("data-uplift")) == figures["uplift"]
            assert row.locator("td.uplift .value").inner_text() == views.signed_percent(figures["uplift"])
            low, high = figures["sequential_uplift_low"], figures["sequential_uplift_high"]
            assert (
                row.locator("td.uplift .interval").inner_text()
                == f"{views.signed_percent(low)} – {views.signed_percent(high)}"
            )
            assert row.locator("td.p-value .value").inner_text() == views.p_value(figures["adjusted_p_value"])
            assert "significant" in row.get_attribute("class")

        # The chart: one line per variant, a point per day, each point's value the export's.
        titles = section.locator("figure.value-chart svg circle title")
        points = titles.evaluate_all("els => els.map(e => e.textContent)")  # SVG elements have no innerText
        expected = [
            f"{point['variant']}, {point['day']}: {point['value_per_participant']}"
            for point in goal["daily_value_per_participant"]
        ]
        assert sorted(points) == sorted(expected)
        total = sum(f["total_value"] for f in goal["variants"])
        assert abs(total - sum(r["sum"] for r in document["values"][0]["results"])) < 1e-6
        page.screenshot(path=artifacts_dir / "dashboard-value-goal-1280.png", full_page=True)
        assert dialogs == []
    finally:
        context.close()
