"""The dashboard in a real browser (Debian's chromium through Playwright),
served by the WSGI server on real Redis: log in, read, export, delete, log out.
Screenshots go to test-artifacts/ (1280px and 375px wide)."""

from __future__ import annotations

import csv
import io
import json
import re
from urllib.parse import quote, urlsplit

import pytest
from conftest import API_KEY, http
from playwright.sync_api import expect
from test_dashboard import seed

pytestmark = pytest.mark.browser

XSS_NAME = "<img src=x onerror=alert('experiment')>"
XSS_VARIANT = "<script>alert('variant')</script>"
PHONE = {"width": 375, "height": 812}
DESKTOP = {"width": 1280, "height": 900}


def api_results(live_server, name: str) -> dict:
    response = http("GET", f"{live_server.url}/experiments/{quote(name, safe='')}", headers={"x-api-key": API_KEY})
    assert response.status == 200, response.body
    return response.json()


@pytest.fixture
def data(store):
    seed(store, "checkout-button", {"A": (400, 40), "B": (400, 80)}, days=5)
    seed(store, "checkout-button", {"A": (400, 12), "B": (400, 9)}, goal="newsletter")
    seed(store, "my a/b test", {"red": (12, 2), "blue": (9, 1)}, days=2)
    seed(store, XSS_NAME, {XSS_VARIANT: (50, 5), "plain": (60, 9)}, goal=XSS_VARIANT)
    seed(store, "split broken", {"A": (1000, 100), "B": (700, 90)}, days=3)
    seed(store, "pricing", {"cheap": (1000, 200), "control": (1000, 100), "premium": (1000, 95)}, days=4)
    seed(store, "staging-only", {"A": (5, 1)}, namespace="staging")
    return store


def open_page(browser, viewport: dict):
    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    dialogs: list = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    return context, page, dialogs


def log_in(page, live_server, key: str = API_KEY) -> None:
    page.goto(f"{live_server.url}/dashboard")
    page.fill("#key", key)
    page.click("button[type=submit]")
    page.wait_for_load_state()  # the click only starts the navigation to the page after login


def test_experimenter_journey(browser, live_server, data, artifacts_dir):
    context, page, dialogs = open_page(browser, DESKTOP)
    try:
        log_in(page, live_server, "not-the-right-key-at-all")
        assert page.inner_text("#login-error") == "Wrong API key."
        page.screenshot(path=artifacts_dir / "dashboard-login-error-1280.png")

        log_in(page, live_server)
        assert page.inner_text("h1") == "Experiments"
        cookie = next(c for c in context.cookies() if c["name"] == "lamed_session")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and API_KEY not in cookie["value"]
        assert page.evaluate("document.cookie") == ""
        assert API_KEY not in page.url
        shown = page.locator("li.experiment").evaluate_all("els => els.map(e => e.dataset.experiment)")
        assert sorted(shown) == sorted(["checkout-button", "my a/b test", XSS_NAME, "split broken", "pricing"])
        ship = page.locator('li[data-experiment="pricing"] .decision-line')
        assert ship.get_attribute("data-kind") == "ship" and ship.inner_text().startswith("Ship cheap: +100.0%")
        badge = page.locator('li[data-experiment="split broken"] .badge')
        assert badge.inner_text() == "sample-ratio mismatch"
        page.screenshot(path=artifacts_dir / "dashboard-list-1280.png", full_page=True)

        check_detail_matches_api(page, live_server, "checkout-button", artifacts_dir)
        check_decision_matches_export(page, live_server, "checkout-button", artifacts_dir)
        check_exports_match_api(page, live_server, "checkout-button")
        check_decision_matches_export(page, live_server, "pricing", artifacts_dir)
        check_name_with_slash(page, live_server)
        check_markup_names_are_text(page, live_server, artifacts_dir)
        check_namespace_switcher(page)
        check_delete(page, live_server, data, artifacts_dir)

        page.click("text=Log out")
        expect(page.locator("#key")).to_be_visible()
        page.goto(f"{live_server.url}/dashboard")
        assert page.locator("#key").is_visible() and not page.locator("li.experiment").count()
        assert dialogs == []
    finally:
        context.close()


def check_detail_matches_api(page, live_server, name: str, artifacts_dir) -> None:
    page.click(f'li[data-experiment="{name}"] a.title')
    assert page.inner_text("#experiment-name") == name
    api = api_results(live_server, name)
    for goal in api["goals"]:
        section = page.locator(f'section.goal[data-goal="{goal["goal"]}"]')
        for result in goal["results"]:
            row = section.locator(f'tr[data-variant="{result["label"]}"]')
            assert int(row.locator("td.trials").inner_text()) == result["trials"]
            assert int(row.locator("td.successes").inner_text()) == result["successes"]
            rate = result["successes"] / result["trials"] * 100
            assert row.locator("td.rate .value").inner_text() == f"{rate:.2f}%"
    assert page.locator("svg.chart").count() == 1 + 2 * len(api["goals"])
    page.screenshot(path=artifacts_dir / "dashboard-detail-1280.png", full_page=True)


def check_decision_matches_export(page, live_server, name: str, artifacts_dir) -> None:
    """The decision, the deciding test, the days left and every figure of the
    goal tables, as the page shows them, equal the JSON export's."""
    from lamed.dashboard import views

    page.goto(f"{live_server.url}/dashboard/{quote(name, safe='')}")
    response = page.context.request.get(f"{live_server.url}/dashboard/export?experiment={quote(name)}&format=json")
    document = response.json()
    lines = page.locator("#decision .decision-line")
    assert lines.all_inner_texts() == [line["text"] for line in document["decisions"]]
    assert lines.evaluate_all("els => els.map(e => e.dataset.kind)") == [line["kind"] for line in document["decisions"]]
    assert " ".join(lines.all_inner_texts()) == document["decision"]["text"]
    deciding = page.locator("#deciding-test")
    assert deciding.get_attribute("data-test") == document["deciding_test"] == "sequential"
    assert "Decided by the always-valid sequential test" in deciding.inner_text()
    for goal in document["statistics"]:
        section = page.locator(f'section.goal[data-goal="{goal["goal"]}"]')
        assert section.locator(".days-remaining strong").inner_text() == views.day_count(goal["days_remaining"])
        assert goal["days_remaining"] is not None
        decide = section.locator(".decision-sample").inner_text()
        assert decide == f"to decide: {views.visitors_count(goal['decision_sample_per_variant'])} visitors per variant"
        section.locator("details.more summary").click()  # the disclosure opens without script
        for figures in goal["variants"]:
            row = section.locator(f'table.figures:not(.more-figures) tr[data-variant="{figures["label"]}"]')
            if figures["is_control"]:
                continue
            if figures["enough_data"]:
                assert row.locator("td.uplift .value").inner_text() == views.signed_percent(figures["uplift"])
                low, high = figures["sequential_uplift_low"], figures["sequential_uplift_high"]
                interval = f"{views.signed_percent(low)} – {views.signed_percent(high)}"
                assert row.locator("td.uplift .interval").inner_text() == interval
                assert row.locator("td.p-value .value").inner_text() == views.p_value(figures["adjusted_p_value"])
            more = section.locator(f'table.more-figures tr[data-variant="{figures["label"]}"]')
            assert more.is_visible()
            assert more.locator("td.sequential .value").inner_text() == views.p_value(figures["sequential_p_value"])
            assert more.locator("td.fixed .value").inner_text() == views.p_value(figures["p_value"])
            assert more.locator("td.adjusted").inner_text() == views.p_value(figures["adjusted_p_value"])
            remaining = more.locator("td.remaining").inner_text()
            assert remaining.split()[0] == views.visitors_count(figures["decision_sample_per_variant"])
            assert remaining.endswith(views.day_count(figures["days_remaining"]))
    page.screenshot(path=artifacts_dir / f"dashboard-decision-{name}-1280.png", full_page=True)


def check_exports_match_api(page, live_server, name: str) -> None:
    api = api_results(live_server, name)
    expected = sorted((g["goal"], r["label"], r["trials"], r["successes"]) for g in api["goals"] for r in g["results"])
    with page.expect_download() as download:
        page.click("#export-csv")
    rows = list(csv.DictReader(io.StringIO(open(download.value.path(), encoding="utf-8").read())))
    assert sorted((r["goal"], r["variant"], int(r["trials"]), int(r["successes"])) for r in rows) == expected
    with page.expect_download() as download:
        page.click("#export-json")
    document = json.loads(open(download.value.path(), encoding="utf-8").read())
    assert document["goals"] == api["goals"]
    figures = sorted(
        (s["goal"], v["label"], v["trials"], v["successes"]) for s in document["statistics"] for v in s["variants"]
    )
    assert figures == expected


def check_name_with_slash(page, live_server) -> None:
    page.goto(f"{live_server.url}/dashboard")
    page.click('li[data-experiment="my a/b test"] a.title')
    assert page.inner_text("#experiment-name") == "my a/b test"
    assert page.locator('section.goal[data-goal="signup"] td.nodata').first.inner_text() == "not enough data"
    # The path form works too: the WSGI adapter decodes each segment on its own.
    page.goto(f"{live_server.url}/dashboard/{quote('my a/b test', safe='')}")
    assert page.inner_text("#experiment-name") == "my a/b test"


def check_markup_names_are_text(page, live_server, artifacts_dir) -> None:
    page.goto(f"{live_server.url}/dashboard")
    assert page.locator(f'li[data-experiment="{XSS_NAME}"] a.title').inner_text() == XSS_NAME
    page.locator(f'li[data-experiment="{XSS_NAME}"] a.title').click()
    assert page.inner_text("#experiment-name") == XSS_NAME
    assert page.locator(f'tr[data-variant="{XSS_VARIANT}"] th .name').inner_text() == XSS_VARIANT
    assert page.evaluate("document.querySelectorAll('main img, main script, svg img').length") == 0
    assert page.evaluate("document.scripts.length") == 0
    page.screenshot(path=artifacts_dir / "dashboard-markup-names-1280.png", full_page=True)


def check_namespace_switcher(page) -> None:
    page.click("text=← Experiments in")
    page.select_option("select[name=namespace]", "staging")
    page.click("form.filters button")
    assert page.locator("li.experiment").evaluate_all("els => els.map(e => e.dataset.experiment)") == ["staging-only"]
    page.select_option("select[name=namespace]", "alephbet")
    page.fill("input[name=q]", "CHECKOUT")
    page.click("form.filters button")
    assert page.locator("li.experiment").count() == 1


def check_delete(page, live_server, store, artifacts_dir) -> None:
    page.click('li[data-experiment="checkout-button"] a.title')
    page.click("#delete")
    assert page.inner_text("#delete-name") == "checkout-button"
    assert not store.experiment("alephbet", "checkout-button").is_empty  # asking is not deleting
    page.screenshot(path=artifacts_dir / "dashboard-delete-confirm-1280.png")
    page.click("#confirm-delete")
    assert "Deleted checkout-button" in page.inner_text("p.notice")
    assert store.experiment("alephbet", "checkout-button").is_empty
    assert page.locator('li[data-experiment="checkout-button"]').count() == 0
    gone = http("GET", f"{live_server.url}/experiments/checkout-button", headers={"x-api-key": API_KEY})
    assert gone.status == 404


def test_readable_on_a_phone(browser, live_server, data, artifacts_dir):
    context, page, dialogs = open_page(browser, PHONE)
    try:
        page.goto(f"{live_server.url}/dashboard")
        page.screenshot(path=artifacts_dir / "dashboard-login-375.png")
        log_in(page, live_server)
        pages = {
            "list": f"{live_server.url}/dashboard",
            "detail": f"{live_server.url}/dashboard/checkout-button",
            "pricing": f"{live_server.url}/dashboard/pricing",
            "markup-names": f"{live_server.url}/dashboard?experiment={quote(XSS_NAME)}",
            "empty": f"{live_server.url}/dashboard?namespace=brand-new",
        }
        for label, url in pages.items():
            page.goto(url)
            # No sideways scrolling of the page itself (wide tables scroll in their own box).
            assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], label
            page.screenshot(path=artifacts_dir / f"dashboard-{label}-375.png", full_page=True)
            if label == "detail":  # one goal at full resolution, to check the small print
                page.locator("section.goal").last.screenshot(path=artifacts_dir / "dashboard-goal-375.png")
            if label == "pricing":  # the disclosure opened: the figures behind it fit too
                page.locator("section.goal details.more summary").click()
                assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], label
                page.locator("section.goal").screenshot(path=artifacts_dir / "dashboard-goal-details-375.png")
        assert "LamedAdapter" in page.inner_text("#empty-state")
        assert dialogs == []
    finally:
        context.close()


def test_the_front_door_and_the_way_back_after_login(browser, live_server, data):
    """``/`` leads to the dashboard, which sends a visitor without a session to
    the login page and, once logged in, back to the page first asked for."""
    context, page, _ = open_page(browser, DESKTOP)
    try:
        page.goto(f"{live_server.url}/")
        assert "/dashboard/login?next=" in page.url and page.is_visible("#key")
        page.goto(f"{live_server.url}/dashboard?experiment=checkout-button")
        page.fill("#key", API_KEY)
        page.click("button[type=submit]")
        # expect() waits for the page after the login's redirect; is_visible() would read it mid-load
        expect(page).to_have_url(re.compile(r"/dashboard\?experiment=checkout-button$"))
        expect(page.locator("#experiment-name")).to_have_text("checkout-button")
    finally:
        context.close()


def test_redirects_stay_on_the_origin(browser, live_server, data):
    """``//evil.example/`` (a trailing-slash redirect once copied the raw
    path into Location) and login's ``next`` with a tab (which a browser
    drops, reading ``/\\t/host`` as ``//host``) keep the browser here."""
    context, page, _ = open_page(browser, DESKTOP)
    hosts: list = []
    page.on("request", lambda request: hosts.append(urlsplit(request.url).netloc))
    origin = urlsplit(live_server.url).netloc
    try:
        response = page.goto(f"{live_server.url}//evil.example/")
        assert response.status == 404 and urlsplit(page.url).netloc == origin
        page.goto(f"{live_server.url}/dashboard/login?next=/%09/evil.example/")
        page.fill("#key", API_KEY)
        page.click("button[type=submit]")
        page.wait_for_load_state()
        assert urlsplit(page.url).netloc == origin and page.url.endswith("/dashboard")
        assert set(hosts) == {origin}, hosts
    finally:
        context.close()


def test_logout_ends_the_session_for_a_replayed_cookie(browser, live_server, data):
    context, page, _ = open_page(browser, DESKTOP)
    try:
        log_in(page, live_server)
        captured = [cookie for cookie in context.cookies() if cookie["name"] == "lamed_session"]
        page.click("text=Log out")
        page.wait_for_load_state()
        replay = browser.new_context()
        replay.add_cookies(captured)
        replayed = replay.new_page()
        replayed.goto(f"{live_server.url}/dashboard")
        assert "/dashboard/login" in replayed.url and replayed.is_visible("#key")
        replay.close()
    finally:
        context.close()
