"""Dashboard pages, login, CSRF and exports, through the Chalice app on
fakeredis (fast). The real browser tests are in test_dashboard_browser.py."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import time
from typing import Optional
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from chalice.test import Client
from click.testing import CliRunner
from conftest import API_KEY, ROOT

from app import app
from lamed.cli.main import main
from lamed.core import keys
from lamed.core.errors import StoreUnavailable
from lamed.core.events import Event
from lamed.core.settings import Settings
from lamed.dashboard import auth as dashboard_auth
from lamed.stats import power, summary
from lamed.store.results import Store
from lamed.store.sessions import Sessions
from lamed.web import runtime

FORM = {"content-type": "application/x-www-form-urlencoded"}
XSS = "<img src=x onerror=alert(document.title)>"
DAY = 86400


def seed(
    store: Store,
    experiment: str,
    arms: dict,
    goal: str = "signup",
    namespace: str = "alephbet",
    days: int = 1,
) -> None:
    """Counts ``arms`` = {variant: (trials, conversions)}, spread over ``days`` days."""
    start = time.time() - (days - 1) * DAY
    for variant, (trials, conversions) in arms.items():
        for day in range(days):
            events = []
            for i in range(day, trials, days):
                events.append(Event(namespace, experiment, variant, "participate", f"u{i}"))
                if i < conversions:
                    events.append(Event(namespace, experiment, variant, goal, f"u{i}"))
            store.track_many(events, now=start + day * DAY)


@pytest.fixture
def client(fake_store):
    with Client(app) as test_client:
        yield test_client


def login(client, key: str = API_KEY):
    return client.http.post("/dashboard/login", body=urlencode({"key": key}), headers=FORM)


@pytest.fixture
def cookie(client) -> dict:
    response = login(client)
    return {"cookie": response.headers["Set-Cookie"].split(";")[0]}


def page(client, path: str, cookie: dict, **params: str) -> str:
    response = client.http.get(f"{path}?{urlencode(params)}" if params else path, headers=cookie)
    assert response.status_code == 200, response.body
    return response.body.decode("utf-8")


def csrf_of(html: str) -> str:
    return html.split('name="csrf" value="', 1)[1].split('"', 1)[0]


# -- login ----------------------------------------------------------------------


def test_pages_need_a_session_and_redirect_to_the_login_page_and_back(client, fake_store):
    seed(fake_store, "secret test", {"A": (10, 1)})
    for path, login_page in (
        ("/dashboard", "dashboard/login"),
        ("/dashboard/secret", "../dashboard/login"),
        ("/dashboard?experiment=secret+test", "dashboard/login"),
        ("/dashboard/export?experiment=secret+test", "../dashboard/login"),
    ):
        response = client.http.get(path)
        assert response.status_code == 303 and "secret test" not in response.body.decode()
        location, _, query = response.headers["Location"].partition("?")
        assert location == login_page
        back_to = parse_qs(query)["next"][0]
        assert urlsplit(back_to).path == urlsplit(path).path  # and its query: the same page
        assert parse_qs(urlsplit(back_to).query) == parse_qs(urlsplit(path).query)
        form = client.http.get("/dashboard/login?" + query).body.decode()
        assert 'type="password"' in form and 'name="next"' in form
        after = client.http.post("/dashboard/login", body=urlencode({"key": API_KEY, "next": back_to}), headers=FORM)
        assert after.status_code == 303 and after.headers["Location"] == back_to


@pytest.mark.parametrize("elsewhere", ["//evil.example/x", "https://evil.example/", "/\\evil.example", "dashboard"])
def test_login_never_sends_anyone_to_another_site(client, elsewhere):
    after = client.http.post("/dashboard/login", body=urlencode({"key": API_KEY, "next": elsewhere}), headers=FORM)
    assert after.status_code == 303 and after.headers["Location"] == "../dashboard"


def test_the_front_door_leads_to_the_dashboard_keeping_the_stage():
    from lamed.web.gateway import proxy_event
    from lamed.web.lambda_handler import handler

    for path, location in (("/api", "/api/dashboard"), ("/api/", "/api/dashboard"), ("/", "/dashboard")):
        answer = handler(proxy_event("GET", "/", path), None)
        assert (answer["statusCode"], answer["headers"]["Location"]) == (303, location)


def test_login_sets_an_httponly_samesite_cookie_without_the_key(client):
    response = login(client)
    assert response.status_code == 303
    assert API_KEY not in response.headers["Location"]
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path" not in cookie
    assert API_KEY not in cookie
    assert "Secure" not in cookie  # plain HTTP (lamed serve); Secure behind HTTPS:
    secure = client.http.post(
        "/dashboard/login", body=urlencode({"key": API_KEY}), headers={**FORM, "x-forwarded-proto": "https"}
    )
    assert "; Secure" in secure.headers["Set-Cookie"]


@pytest.mark.parametrize("key, message", [("wrong-key-but-long-enough", "Wrong API key"), ("", "Missing API key")])
def test_wrong_or_missing_key_says_so(client, key, message):
    response = login(client, key)
    assert response.status_code in (401, 403)
    assert "Set-Cookie" not in response.headers
    assert message in response.body.decode()


def test_no_key_configured_is_explained(client):
    runtime.install(Settings(redis_url="redis://fake"), runtime.store())
    response = login(client, "anything-at-all-1234")
    assert response.status_code == 403
    assert "No API key is configured" in response.body.decode()


def test_forged_expired_old_key_or_never_opened_sessions_are_refused(client, fake_store):
    sessions = Sessions(fake_store.client, fake_store.keys)
    valid = dashboard_auth.new_session(API_KEY)
    never_opened = dashboard_auth.new_session(API_KEY)  # signed, but no login opened it
    forged = valid[:-1] + ("0" if valid[-1] != "0" else "1")
    expired = dashboard_auth.new_session(API_KEY, now=time.time() - dashboard_auth.SESSION_SECONDS - 1)
    other_key = dashboard_auth.new_session("another-api-key-123456")
    for token in (valid, forged, expired, other_key):
        sessions.open(token, dashboard_auth.SESSION_SECONDS)
    for token in (forged, expired, other_key, never_opened, "garbage", "1.2.3", "1.2", ""):
        response = client.http.get("/dashboard", headers={"cookie": f"lamed_session={token}"})
        assert response.status_code == 303 and response.headers["Location"].startswith("dashboard/login"), token
    assert client.http.get("/dashboard", headers={"cookie": f"lamed_session={valid}"}).status_code == 200


def test_logout_clears_the_cookie(client, cookie):
    response = client.http.post("/dashboard/logout", body="", headers={**cookie, **FORM})
    assert response.status_code == 303
    assert (
        response.headers["Set-Cookie"].startswith("lamed_session=;") and "Max-Age=0" in response.headers["Set-Cookie"]
    )


def test_logout_ends_the_session_on_the_server(client, cookie):
    other = {"cookie": login(client).headers["Set-Cookie"].split(";")[0]}  # a second login, elsewhere
    assert client.http.get("/dashboard", headers=cookie).status_code == 200
    client.http.post("/dashboard/logout", body="", headers={**cookie, **FORM})
    replayed = client.http.get("/dashboard", headers=cookie)  # the captured cookie, sent again
    assert replayed.status_code == 303 and replayed.headers["Location"].startswith("dashboard/login")
    assert client.http.get("/dashboard", headers=other).status_code == 200  # that session only


def test_wrong_logins_are_throttled_per_address(client, monkeypatch):
    monkeypatch.setattr(time, "time", lambda: 1_000_000_000.0)  # 40 s into a minute's window
    for _ in range(dashboard_auth.MAX_LOGIN_FAILURES):
        assert login(client, "wrong-key-wrong-key-123").status_code == 403
    throttled = login(client, "wrong-key-wrong-key-123")
    assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "20"
    assert "try again in 20 s" in throttled.body.decode()
    assert login(client).status_code == 429  # even the right key, until the window ends
    monkeypatch.setattr(time, "time", lambda: 1_000_000_020.0)
    assert login(client).status_code == 303


def test_pages_forbid_scripts_and_foreign_resources(client, cookie):
    response = client.http.get("/dashboard", headers=cookie)
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "script-src" not in policy
    assert "frame-ancestors 'none'" in policy
    body = response.body.decode()
    assert "<script" not in body and "http://" not in body.split("<pre", 1)[0]
    css = client.http.get("/dashboard/assets/dashboard.css")
    assert css.status_code == 200 and css.headers["Content-Type"].startswith("text/css")
    assert "url(" not in css.body.decode() and "@import" not in css.body.decode()
    assert client.http.get("/dashboard/assets/..%2Fbase.html").status_code == 404


# -- list -----------------------------------------------------------------------


def test_empty_namespace_shows_how_to_start(client, cookie):
    html = page(client, "/dashboard", cookie)
    assert 'id="empty-state"' in html
    assert "AlephBet.LamedAdapter(&#34;http://localhost/track&#34;, &#34;alephbet&#34;)" in html or (
        "LamedAdapter(" in html and "/track" in html
    )


def test_list_shows_trials_the_decision_and_status(client, cookie, fake_store):
    seed(fake_store, "clear winner", {"A": (1000, 100), "B": (1000, 200)})
    seed(fake_store, "early lead", {"A": (400, 40), "B": (400, 80)})
    seed(fake_store, "tiny", {"A": (5, 1), "B": (6, 2)})
    seed(fake_store, "broken split", {"A": (1000, 100), "B": (700, 70)})
    html = page(client, "/dashboard", cookie)
    blocks = {chunk.split('"', 1)[0]: chunk for chunk in html.split('data-experiment="')[1:]}
    assert set(blocks) == {"clear winner", "early lead", "tiny", "broken split"}
    assert 'data-status="significant"' in blocks["clear winner"]
    assert 'data-variant="A"><span class="name">A</span>: <span class="count">1000</span>' in blocks["clear winner"]
    assert 'data-kind="ship" data-goal="signup">Ship B: +100.0% on signup, interval +' in blocks["clear winner"]
    # p = 0.0000 by the z-test, but the always-valid test (the badge's since 2.0) is not sure yet.
    assert 'data-status="collecting"' in blocks["early lead"]
    assert 'data-kind="keep running"' in blocks["early lead"] and "Keep running: " in blocks["early lead"]
    assert 'data-status="collecting"' in blocks["tiny"] and "Not enough data yet on signup." in blocks["tiny"]
    assert 'data-status="mismatch"' in blocks["broken split"]
    assert "Stop and check the traffic split: sample-ratio mismatch (p &lt; 0.0001)" in blocks["broken split"]
    assert "Best so far" not in html and "chance to be best" not in html  # P(best) is on the detail page only


def test_search_and_namespace_switcher(client, cookie, fake_store):
    seed(fake_store, "checkout button", {"A": (3, 1)})
    seed(fake_store, "pricing page", {"A": (3, 1)})
    seed(fake_store, "staging only", {"A": (3, 1)}, namespace="staging")
    html = page(client, "/dashboard", cookie, q="BUTTON")
    assert 'data-experiment="checkout button"' in html and "pricing page" not in html
    assert "1 of 2 experiments" in html
    assert 'id="no-match"' in page(client, "/dashboard", cookie, q="nothing like it")
    staging = page(client, "/dashboard", cookie, namespace="staging")
    assert 'data-experiment="staging only"' in staging and "checkout button" not in staging
    assert '<option value="staging" selected>' in staging and '<option value="alephbet">' in staging


# -- detail ---------------------------------------------------------------------


def test_detail_shows_the_figures_of_lamed_stats(client, cookie, fake_store):
    seed(fake_store, "clear-winner", {"A": (1000, 100), "B": (1000, 200)}, days=3)
    html = page(client, "/dashboard/clear-winner", cookie)
    expected = summary.summarize_goal([("A", 100, 1000), ("B", 200, 1000)], "A").variants[1]
    row_b = html.split('<tr data-variant="B"', 1)[1].split("</tr>", 1)[0]
    assert f"{expected.rate * 100:.2f}%" in row_b
    assert f"{expected.comparison.uplift * 100:+.1f}%" in row_b
    assert f"{expected.comparison.sequential_uplift_low * 100:+.1f}%" in row_b  # the deciding (always-valid) interval
    assert f"{expected.comparison.sequential_p_value:.4f}" in row_b and "significant" in row_b
    more_b = html.split('<tr data-variant="B"', 2)[2].split("</tr>", 1)[0]  # behind the disclosure
    assert f"{expected.comparison.uplift_low * 100:+.1f}%" in more_b and "&lt; 0.0001" in more_b  # the z-test's
    assert expected.comparison.prob_beat_control > 0.999 and "&gt; 99.9%" in more_b  # not rounded to a certainty
    assert 'id="deciding-test" data-test="sequential"' in html and "always-valid sequential test" in html
    assert "P(best), descriptive" in html and "<details" in html
    assert html.count("<svg") == 3  # trials per day, rate, conversions per day
    assert "Consistent with an even split" in html


def test_tiny_samples_say_not_enough_data(client, cookie, fake_store):
    seed(fake_store, "tiny", {"A": (5, 1), "B": (6, 2)})
    html = page(client, "/dashboard/tiny", cookie)
    row_b = html.split('<tr data-variant="B"', 1)[1].split("</tr>", 1)[0]
    assert "not enough data" in row_b and "p-value" not in row_b


def test_control_can_be_chosen_and_bad_control_is_a_400(client, cookie, fake_store):
    seed(fake_store, "exp", {"A": (400, 40), "B": (400, 80)})
    html = page(client, "/dashboard/exp", cookie, control="B")
    flat = " ".join(html.split())
    assert '<tr data-variant="B"> <th scope="row"><span class="name">B</span> <span class="tag">control</span>' in flat
    response = client.http.get("/dashboard/exp?control=nope", headers=cookie)
    assert response.status_code == 400 and json.loads(response.body)["field"] == "control"


def test_names_that_are_not_path_segments_use_the_query_form(client, cookie, fake_store):
    for name in ("a/b test", "login", "..", "plain_name-1.0"):
        seed(fake_store, name, {"A": (3, 1)})
    html = page(client, "/dashboard", cookie)
    assert 'href="dashboard/plain_name-1.0?namespace=alephbet"' in html
    assert 'href="dashboard?experiment=a%2Fb+test&amp;namespace=alephbet"' in html
    assert 'href="dashboard?experiment=login&amp;namespace=alephbet"' in html
    assert 'href="dashboard?experiment=..&amp;namespace=alephbet"' in html
    assert 'id="experiment-name">a/b test<' in page(client, "/dashboard", cookie, experiment="a/b test")


def test_more_conversions_than_trials_is_reported_not_a_crash(client, cookie, fake_store):
    fake_store.track_many([Event("alephbet", "odd", "A", "signup", f"u{i}") for i in range(3)])
    fake_store.track(Event("alephbet", "odd", "A", "participate", "u0"))
    html = page(client, "/dashboard/odd", cookie)
    assert "Cannot compare: more conversions than trials for A" in html
    assert 'data-experiment="odd"' in page(client, "/dashboard", cookie)


def test_missing_experiment_is_a_404_page(client, cookie):
    response = client.http.get("/dashboard/nothing", headers=cookie)
    assert response.status_code == 404 and "has no counts" in response.body.decode()


def test_names_with_markup_are_shown_as_text(client, cookie, fake_store):
    seed(fake_store, XSS, {XSS: (40, 4), "B": (40, 8)}, goal=XSS, namespace=XSS)
    for html in (
        page(client, "/dashboard", cookie, namespace=XSS),
        page(client, "/dashboard", cookie, namespace=XSS, experiment=XSS),
    ):
        assert "<img" not in html
        assert "&lt;img src=x onerror=alert(document.title)&gt;" in html


def test_overlong_or_missing_parameters_are_400_json(client, cookie):
    response = client.http.get("/dashboard?" + urlencode({"namespace": "n" * 201}), headers=cookie)
    assert response.status_code == 400 and json.loads(response.body)["field"] == "namespace"
    response = client.http.get("/dashboard/export?format=xml&experiment=x", headers=cookie)
    assert response.status_code == 400 and json.loads(response.body)["field"] == "format"
    response = client.http.get("/dashboard/delete", headers=cookie)
    assert response.status_code == 400 and json.loads(response.body)["field"] == "experiment"


def test_redis_trouble_is_a_503(client, cookie, monkeypatch):
    def unavailable(*args, **kwargs):
        raise StoreUnavailable("down")

    monkeypatch.setattr(runtime.store(), "experiment_names", unavailable)
    response = client.http.get("/dashboard", headers=cookie)
    assert response.status_code == 503 and "error" in json.loads(response.body)


# -- delete ---------------------------------------------------------------------


def post_delete(client, cookie: dict, csrf: Optional[str], name: str = "exp"):
    form = {"experiment": name, "namespace": "alephbet"}
    if csrf is not None:
        form["csrf"] = csrf
    return client.http.post("/dashboard/delete", body=urlencode(form), headers={**cookie, **FORM})


def test_delete_asks_for_confirmation_then_needs_the_csrf_token(client, cookie, fake_store):
    seed(fake_store, "exp", {"A": (10, 1)})
    confirm = page(client, "/dashboard/delete", cookie, experiment="exp")
    assert "Delete this experiment?" in confirm and not fake_store.experiment("alephbet", "exp").is_empty
    other_session = dashboard_auth.new_session(API_KEY, now=time.time() - 60)
    for forged in (None, "", "0" * 64, dashboard_auth.csrf_token(other_session, API_KEY)):
        response = post_delete(client, cookie, forged)
        assert response.status_code == 400 and json.loads(response.body)["field"] == "csrf"
    assert not fake_store.experiment("alephbet", "exp").is_empty
    response = post_delete(client, cookie, csrf_of(confirm))
    assert response.status_code == 303
    assert response.headers["Location"] == "../dashboard?namespace=alephbet&deleted=exp"
    assert fake_store.experiment("alephbet", "exp").is_empty


def test_delete_without_a_session_deletes_nothing(client, fake_store):
    seed(fake_store, "exp", {"A": (10, 1)})
    response = post_delete(client, {}, "whatever")
    assert response.status_code == 401
    assert not fake_store.experiment("alephbet", "exp").is_empty


def test_delete_refuses_other_content_types(client, cookie, fake_store):
    response = client.http.post(
        "/dashboard/delete", body=json.dumps({"experiment": "exp"}), headers={**cookie, "content-type": "text/plain"}
    )
    assert response.status_code == 400 and json.loads(response.body)["field"] == "content-type"


# -- export ---------------------------------------------------------------------


def test_json_export_carries_the_counts_and_every_figure(client, cookie, fake_store):
    seed(fake_store, "exp", {"A": (400, 40), "B": (400, 80)})
    response = client.http.get("/dashboard/export?experiment=exp&format=json", headers=cookie)
    assert response.headers["Content-Disposition"].startswith("attachment")
    document = json.loads(response.body)
    assert document["variants"] == [{"label": "A", "trials": 400}, {"label": "B", "trials": 400}]
    pace = {"A": 400.0, "B": 400.0}  # one day of counts
    goal_stats = summary.summarize_goal([("A", 40, 400), ("B", 80, 400)], "A", trials_per_day=pace).to_dict()
    goal_figures = {name: goal_stats[name] for name in ("deciding_test", "sample_size_per_variant")}
    goal_figures.update(decision_sample_per_variant=goal_stats["decision_sample_per_variant"])
    goal_figures.update(days_remaining=goal_stats["days_remaining"])
    expected = {"goal": "signup", "problem": None, **goal_figures, "variants": goal_stats["variants"]}
    assert document["statistics"] == [expected]
    # The fixed-horizon p is < 0.0001, but the always-valid test decides: not significant yet.
    assert document["status"] == "collecting" and document["control"] == "A"
    assert document["primary_goal"] == "signup" and document["deciding_test"] == "sequential"
    decision = document["decision"]
    assert decision["text"].startswith("Keep running: about ") and decision["days_remaining"] >= 1
    assert decision == {
        "kind": "keep running", "goal": "signup", "variant": None, "uplift": None, "interval": None,
        "days_remaining": decision["days_remaining"],
        "decision_sample_per_variant": power.sequential_decision_sample(0.1, 0.2),
        "text": decision["text"],
    }  # fmt: skip
    assert document["decisions"] == [decision]
    row = document["statistics"][0]["variants"][1]
    for name in ("sequential_p_value", "sequential_uplift_low", "sequential_uplift_high", "adjusted_p_value"):
        assert isinstance(row[name], float), name
    assert row["deciding_test"] == "sequential" and row["days_remaining"] >= 1
    assert row["decision_sample_per_variant"] == power.sequential_decision_sample(0.1, 0.2)


def test_csv_export_has_a_row_per_goal_and_variant_and_defuses_formulas(client, cookie, fake_store):
    seed(fake_store, "=HYPERLINK()", {"A": (50, 5), "@B": (50, 10)})
    response = client.http.get("/dashboard/export?" + urlencode({"experiment": "=HYPERLINK()"}), headers=cookie)
    assert response.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.body.decode())))
    assert [(r["experiment"], r["variant"], r["trials"], r["successes"]) for r in rows] == [
        ("'=HYPERLINK()", "'@B", "50", "10"),
        ("'=HYPERLINK()", "A", "50", "5"),
    ]


# -- packaging ------------------------------------------------------------------


def test_the_lambda_app_does_not_import_jinja2():
    code = "import sys, app; sys.exit('jinja2' in sys.modules or 'lamed.dashboard.views' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0


def test_cli_prints_the_dashboard_url():
    runner = CliRunner()
    assert runner.invoke(main, ["dashboard", "--print-url"]).output == "http://127.0.0.1:8000/dashboard\n"
    result = runner.invoke(main, ["dashboard", "--print-url", "--url", "https://abc.example/api/"])
    assert result.output == "https://abc.example/api/dashboard\n"
    assert runner.invoke(main, ["dashboard", "--url", "ftp://x"]).exit_code == 1


def test_figures_are_formatted_without_false_certainty():
    from lamed.dashboard import views as dashboard

    assert [dashboard.probability(p) for p in (None, 0.0, 0.0004, 0.5, 0.9994, 1.0)] == [
        "—", "< 0.1%", "< 0.1%", "50.0%", "> 99.9%", "> 99.9%",
    ]  # fmt: skip
    assert [dashboard.p_value(p) for p in (None, 0.00001, 0.04999)] == ["—", "< 0.0001", "0.0500"]
    assert dashboard.signed_percent(-0.25) == "-25.0%" and dashboard.percent(0.1234) == "12.34%"


def test_srm_and_control_follow_the_definition(fake_store):
    """With a 80/20 definition, an 80/20 split is no mismatch and the marked
    control is the default; without it, the same split is a mismatch."""
    from lamed.core.definitions import definition_from_dict
    from lamed.core.events import Event
    from lamed.dashboard.views import MISMATCH, experiment_view

    fake_store.track_many(
        [Event("ns", "split", "a", "participate", f"a{i}") for i in range(800)]
        + [Event("ns", "split", "b", "participate", f"b{i}") for i in range(200)]
    )
    counts = fake_store.experiment("ns", "split")
    definition = definition_from_dict("split", {"variants": {"a": 80, "b": 20}, "control": "b"})

    planned = experiment_view(counts, definition=definition)
    assert not planned.srm.mismatch and planned.expected_split == "the configured weights"
    assert planned.control == "b"

    unplanned = experiment_view(counts)
    assert unplanned.status == MISMATCH and unplanned.expected_split == "an even split"
    assert unplanned.control == "a"


def test_pages_show_the_definition(client, cookie, fake_store):
    from lamed.core.definitions import definition_from_dict
    from lamed.store.definitions import DefinitionStore

    seed(fake_store, "defined", {"A": (40, 4), "B": (40, 8)})
    seed(fake_store, "plain", {"A": (5, 1)})
    definition = definition_from_dict(
        "defined",
        {
            "variants": {"A": 1, "B": 3},
            "control": "A",
            "coverage": 50,
            "rules": [{"attribute": XSS, "op": "eq", "value": "vip", "variant": "B"}],
            "status": "stopped",
            "winner": "B",
        },
    )
    DefinitionStore(fake_store.client, keys.DEFAULT_KEYS).put("alephbet", definition)

    detail = page(client, "/dashboard/defined", cookie)
    assert 'id="definition"' in detail and 'data-lifecycle="stopped"' in detail
    assert "25.0%" in detail and "75.0%" in detail and "coverage 50% of users" in detail
    assert 'everyone gets <strong class="name">B</strong>' in detail
    assert XSS not in detail and "&lt;img src=x" in detail

    listing = page(client, "/dashboard", cookie)
    assert "stopped: B wins" in listing
    assert 'id="definition"' not in page(client, "/dashboard/plain", cookie)


# -- decisions (issue 14) ---------------------------------------------------------------


def put_definition(fake_store, name: str, document: dict) -> None:
    from lamed.core.definitions import definition_from_dict
    from lamed.store.definitions import DefinitionStore

    DefinitionStore(fake_store.client, keys.DEFAULT_KEYS).put("alephbet", definition_from_dict(name, document))
    runtime.definitions().invalidate()


def test_a_definition_or_the_settings_switch_to_the_fixed_horizon_test(client, cookie, fake_store, monkeypatch):
    seed(fake_store, "planned", {"A": (400, 40), "B": (400, 80)})
    seed(fake_store, "watched", {"A": (400, 40), "B": (400, 80)})
    put_definition(fake_store, "planned", {"variants": {"A": 1, "B": 1}, "deciding_test": "fixed"})
    planned = page(client, "/dashboard/planned", cookie)
    assert (
        'data-test="fixed"' in planned and "fixed-horizon z-test" in planned and 'data-status="significant"' in planned
    )
    assert 'data-kind="ship"' in planned
    watched = page(client, "/dashboard/watched", cookie)
    assert 'data-test="sequential"' in watched and 'data-status="collecting"' in watched

    monkeypatch.setattr(runtime, "settings", lambda: Settings(api_key=API_KEY, deciding_test="fixed"))
    assert 'data-status="significant"' in page(client, "/dashboard/watched", cookie)
    document = json.loads(client.http.get("/dashboard/export?experiment=watched&format=json", headers=cookie).body)
    assert document["deciding_test"] == "fixed" and document["statistics"][0]["variants"][1]["deciding_test"] == "fixed"
    row = document["statistics"][0]["variants"][1]
    assert row["decision_sample_per_variant"] == row["sample_size_per_variant"] == power.sample_size_per_variant(0.1)


def test_the_decision_is_about_the_primary_goal(client, cookie, fake_store):
    seed(fake_store, "goals", {"A": (1000, 100), "B": (1000, 200)}, goal="signup")
    seed(fake_store, "goals", {"A": (1000, 100), "B": (1000, 100)}, goal="purchase")
    both = page(client, "/dashboard/goals", cookie)
    assert both.count('class="decision-line"') == 2  # no primary goal: one line per goal
    put_definition(fake_store, "goals", {"variants": {"A": 1, "B": 1}, "primary_goal": "purchase"})
    html = page(client, "/dashboard/goals", cookie)
    decision = html.split('id="decision"', 1)[1].split("</section>", 1)[0]
    assert decision.count('class="decision-line"') == 1 and 'data-goal="purchase"' in decision
    assert '<section class="card goal secondary" data-goal="signup">' in html
    assert 'purchase</span> <span class="tag">primary</span>' in html
    document = json.loads(client.http.get("/dashboard/export?experiment=goals&format=json", headers=cookie).body)
    assert document["primary_goal"] == "purchase" and [d["goal"] for d in document["decisions"]] == ["purchase"]
    # Two comparisons: Holm over both. signup's raw p doubles (unless it is 1 already).
    signup = next(g for g in document["statistics"] if g["goal"] == "signup")["variants"][1]
    assert signup["adjusted_p_value"] == pytest.approx(min(1.0, 2 * signup["sequential_p_value"]), rel=1e-12)


def test_a_primary_goal_without_counts_is_not_enough_data(client, cookie, fake_store):
    seed(fake_store, "new goal", {"A": (1000, 100), "B": (1000, 200)})
    put_definition(fake_store, "new goal", {"variants": {"A": 1, "B": 1}, "primary_goal": "upgrade"})
    html = page(client, "/dashboard/new goal", cookie)
    assert 'data-goal="upgrade">Not enough data yet on upgrade.' in html


def test_a_variant_named_like_a_control_is_the_default_control(client, cookie, fake_store):
    seed(fake_store, "priced", {"cheap": (400, 40), "Control": (400, 60)})
    document = json.loads(client.http.get("/dashboard/export?experiment=priced&format=json", headers=cookie).body)
    assert document["control"] == "Control"
    from lamed.dashboard.views import default_control

    assert default_control(["a", "b"]) == "a" and default_control(["b", "ORIGINAL"]) == "ORIGINAL"
    assert default_control(["baseline", "default"]) == "baseline" and default_control([]) is None


def test_csv_export_carries_the_decision_figures(client, cookie, fake_store):
    seed(fake_store, "exp", {"A": (400, 40), "B": (400, 80)}, days=2)
    response = client.http.get("/dashboard/export?experiment=exp&format=csv", headers=cookie)
    rows = {row["variant"]: row for row in csv.DictReader(io.StringIO(response.body.decode()))}
    document = json.loads(client.http.get("/dashboard/export?experiment=exp&format=json", headers=cookie).body)
    figures = {v["label"]: v for v in document["statistics"][0]["variants"]}
    for name in ("sequential_p_value", "sequential_uplift_low", "sequential_uplift_high", "adjusted_p_value",
                 "sample_size_per_variant", "decision_sample_per_variant", "days_remaining"):  # fmt: skip
        assert float(rows["B"][name]) == pytest.approx(figures["B"][name], rel=1e-12), name
    assert rows["A"]["sequential_p_value"] == "" and rows["B"]["deciding_test"] == "sequential"
    assert (
        rows["A"]["decision"] == rows["B"]["decision"] == document["decision"]["text"]
        and rows["B"]["primary_goal"] == "signup"
    )


def test_days_remaining_follow_the_last_seven_days(fake_store):
    from lamed.dashboard.views import recent_trials_per_day

    seed(fake_store, "paced", {"A": (100, 10), "B": (50, 5)}, days=10)  # 10 (A) and 5 (B) a day
    pace = recent_trials_per_day(fake_store.experiment("alephbet", "paced"))
    assert pace == {"A": pytest.approx(10.0), "B": pytest.approx(5.0)}
    seed(fake_store, "young", {"A": (30, 3)}, days=3)
    assert recent_trials_per_day(fake_store.experiment("alephbet", "young")) == {"A": pytest.approx(10.0)}
    assert recent_trials_per_day(fake_store.experiment("alephbet", "nothing")) == {}
