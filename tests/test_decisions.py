"""The decision outside the dashboard: ``GET /experiments/{name}`` and
``GET /decisions`` (a real HTTP server, a real Redis) give the JSON export's
decision object, in a constant number of Redis round trips."""

from __future__ import annotations

import json
from urllib.parse import quote, urlencode

import pytest
from conftest import API_KEY, http

from lamed.core.counting import utc_day
from lamed.core.definitions import definition_from_dict
from lamed.dashboard import auth
from lamed.store.definitions import DefinitionStore
from lamed.store.sessions import Sessions
from lamed.store.transfer import write_counts
from lamed.web import runtime

AUTH = {"x-api-key": API_KEY}
NAMESPACE = "shop"


def put_counts(store, experiment: str, arms: dict, goal: str = "signup", namespace: str = NAMESPACE) -> None:
    """Sets ``arms`` = {variant: (trials, conversions)} as today's counters (the import path)."""
    day = utc_day()
    rows = [(day, "participate", variant, trials) for variant, (trials, _) in arms.items()]
    rows += [(day, goal, variant, conversions) for variant, (_, conversions) in arms.items()]
    write_counts(store, namespace, experiment, rows)


def define(store, experiment: str, namespace: str = NAMESPACE, **fields) -> None:
    document = {"variants": {"A": 1, "B": 1}, "control": "A", "status": "running", **fields}
    DefinitionStore(store.client, store.keys).put(namespace, definition_from_dict(experiment, document))


def seed_decisions(store) -> None:
    put_counts(store, "winner", {"A": (10_000, 500), "B": (10_000, 700)})  # ship B
    put_counts(store, "running", {"A": (10_000, 480), "B": (10_100, 530)})  # keep running
    put_counts(store, "loser", {"A": (40_000, 2000), "B": (40_000, 1800)})  # keep control
    put_counts(store, "tiny", {"A": (50, 5), "B": (50, 9)})  # not enough data
    put_counts(store, "a/b test: two goals", {"A": (10_000, 500), "B": (10_000, 700)}, goal="buy")
    put_counts(store, "a/b test: two goals", {"A": (10_000, 480), "B": (10_000, 520)}, goal="signup")
    define(store, "loser", status="paused")
    define(store, "a/b test: two goals", primary_goal="buy")
    put_counts(store, "elsewhere", {"A": (10_000, 500), "B": (10_000, 700)}, namespace="other")


def export(server, experiment: str, namespace: str = NAMESPACE) -> dict:
    """The dashboard's JSON export of one experiment (logged in with a session)."""
    token = auth.new_session(API_KEY)
    Sessions(runtime.store().client, runtime.store().keys).open(token, auth.SESSION_SECONDS)  # as a login opens it
    cookie = auth.set_cookie_header(token, False).split(";")[0]
    query = urlencode({"experiment": experiment, "namespace": namespace, "format": "json"})
    response = http("GET", f"{server.url}/dashboard/export?{query}", headers={"cookie": cookie})
    assert response.status == 200, response.body
    return response.json()


def test_the_decisions_of_a_namespace_are_the_exports(live_server, store):
    seed_decisions(store)
    answer = http("GET", f"{live_server.url}/decisions?namespace={NAMESPACE}", headers=AUTH)
    assert answer.status == 200 and answer.headers["Content-Type"].startswith("application/json")
    document = answer.json()
    names = ["a/b test: two goals", "loser", "running", "tiny", "winner"]
    assert document["namespace"] == NAMESPACE and [e["experiment"] for e in document["experiments"]] == names
    for entry in document["experiments"]:
        exported = export(live_server, entry["experiment"])
        assert entry["decision"] == exported["decision"] and entry["decisions"] == exported["decisions"]
    by_name = {entry["experiment"]: entry for entry in document["experiments"]}
    assert [by_name[name]["decision"]["kind"] for name in names] == [
        "ship", "keep control", "keep running", "not enough data", "ship",
    ]  # fmt: skip
    winner = by_name["winner"]["decision"]
    assert (winner["goal"], winner["variant"]) == ("signup", "B") and winner["uplift"] == pytest.approx(0.4)
    assert winner["interval"][0] > 0 and winner["text"].startswith("Ship B: +40.0% on signup")
    assert by_name["loser"]["status"] == "paused" and by_name["winner"]["status"] is None
    assert by_name["a/b test: two goals"]["decision"]["goal"] == "buy"  # the primary goal decides
    running = by_name["running"]["decision"]
    assert running["days_remaining"] >= 1 and running["text"].startswith("Keep running: about ")
    other = http("GET", f"{live_server.url}/decisions?namespace=other", headers=AUTH).json()
    assert [e["experiment"] for e in other["experiments"]] == ["elsewhere"]


def test_one_experiment_carries_its_decision(live_server, store):
    seed_decisions(store)
    for name in ("winner", "a/b test: two goals", "tiny"):
        url = f"{live_server.url}/experiments/{quote(name, safe='')}?namespace={NAMESPACE}"
        document = http("GET", url, headers=AUTH).json()
        assert document["decision"] == export(live_server, name)["decision"]
        assert document["variants"] == [
            {"label": "A", "trials": document["variants"][0]["trials"]},
            document["variants"][1],
        ]


def test_decisions_need_the_api_key_and_a_valid_namespace(live_server, store):
    assert http("GET", f"{live_server.url}/decisions").status == 401
    assert http("GET", f"{live_server.url}/decisions", headers={"x-api-key": "x" * 24}).status == 403
    bad = http("GET", f"{live_server.url}/decisions?namespace={'n' * 300}", headers=AUTH)
    assert bad.status == 400 and bad.json()["field"] == "namespace"
    assert http("GET", f"{live_server.url}/decisions?namespace=empty", headers=AUTH).json() == {
        "namespace": "empty", "experiments": [],
    }  # fmt: skip


class RoundTrips:
    """Counts the exchanges with Redis: lean-connection batches and redis-py
    commands or pipelines (each is one round trip)."""

    def __init__(self, store, monkeypatch) -> None:
        self.count = 0
        tracker, client = store.tracker, store.client
        self._wrap(monkeypatch, tracker, "run_anywhere")
        self._wrap(monkeypatch, client, "execute_command")
        original_pipeline = client.pipeline

        def pipeline(*args, **kwargs):
            pipe = original_pipeline(*args, **kwargs)
            self._wrap(monkeypatch, pipe, "execute")
            return pipe

        monkeypatch.setattr(client, "pipeline", pipeline)

    def _wrap(self, monkeypatch, owner, name: str) -> None:
        original = getattr(owner, name)

        def counted(*args, **kwargs):
            self.count += 1
            return original(*args, **kwargs)

        monkeypatch.setattr(owner, name, counted)


def test_decisions_read_redis_in_a_constant_number_of_round_trips(live_server, store):
    from lamed.web import runtime

    def round_trips(experiments: int) -> int:
        store.client.flushall()
        runtime.definitions().invalidate()
        for i in range(experiments):
            put_counts(store, f"e{i:03}", {"A": (1000, 50), "B": (1000, 60)})
        define(store, "e000")
        with pytest.MonkeyPatch.context() as patches:
            counter = RoundTrips(store, patches)
            document = http("GET", f"{live_server.url}/decisions?namespace={NAMESPACE}", headers=AUTH).json()
        assert len(document["experiments"]) == experiments
        return counter.count

    few, many = round_trips(2), round_trips(60)
    # The names, the counters, the definitions (reloaded: the snapshot was invalidated).
    assert few == many == 3, (few, many)


def test_the_openapi_document_describes_the_decision(live_server):
    document = json.loads(http("GET", f"{live_server.url}/openapi.json").body)
    decisions = document["paths"]["/decisions"]["get"]
    assert decisions["security"] == [{"apiKey": []}] and decisions["parameters"][0]["name"] == "namespace"
    ok = decisions["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok["properties"]["experiments"]["items"]["properties"]["decision"] == {
        "$ref": "#/components/schemas/Decision"
    }
    detail = document["paths"]["/experiments/{name}"]["get"]["responses"]["200"]["content"]["application/json"]
    assert detail["schema"]["properties"]["decision"] == {"$ref": "#/components/schemas/Decision"}
    kinds = document["components"]["schemas"]["Decision"]["properties"]["kind"]["enum"]
    assert set(kinds) == {"ship", "keep control", "no meaningful difference", "keep running",
                          "check the traffic split", "not enough data"}  # fmt: skip


# -- lamed results ---------------------------------------------------------------


def lamed(*args: str, redis_url: str):
    from click.testing import CliRunner

    from lamed.cli.main import main

    return CliRunner().invoke(main, list(args), env={"LAMED_REDIS_URL": redis_url}, catch_exceptions=False)


def test_results_json_is_what_the_api_gives(live_server, store, redis_url):
    seed_decisions(store)
    printed = lamed("results", "--namespace", NAMESPACE, "--json", redis_url=redis_url)
    assert printed.exit_code == 0, printed.output
    api = http("GET", f"{live_server.url}/decisions?namespace={NAMESPACE}", headers=AUTH).json()
    assert json.loads(printed.output) == api
    for entry in api["experiments"]:
        assert entry["decision"] == export(live_server, entry["experiment"])["decision"]
    one = lamed("results", "--namespace", NAMESPACE, "--experiment", "winner", "--json", redis_url=redis_url)
    assert json.loads(one.output)["experiments"] == [e for e in api["experiments"] if e["experiment"] == "winner"]


def test_results_table(store, redis_url):
    seed_decisions(store)
    shown = lamed("results", "--namespace", NAMESPACE, redis_url=redis_url)
    assert shown.exit_code == 0, shown.output
    winner = shown.output.split("winner  (", 1)[1]
    assert "always-valid sequential test decides" in winner.splitlines()[0]
    table = winner.split("decision:", 1)[0].splitlines()
    assert table[1].split() == ["goal", "signup"]
    assert table[2].split() == ["variant", "trials", "conversions", "rate", "uplift", "(interval)", "p"]
    assert table[3].split() == ["A", "(control)", "10,000", "500", "5.00%", "baseline", "—"]
    assert table[4].split() == ["B", "10,000", "700", "7.00%", "+40.0%", "(+15.1%", "to", "+64.9%)", "<", "0.0001"]
    assert "decision: Ship B: +40.0% on signup" in winner
    assert "loser  (always-valid sequential test decides, paused)" in shown.output
    assert "goal buy (primary)" in shown.output and "B 40,000 1,800 4.50% -10.0% (-19.4% to -0.6%) 0.0256" in " ".join(
        shown.output.split()
    )
    assert "A (control) 50 5 10.00% baseline — B 50 9 18.00% not enough data —" in " ".join(shown.output.split())
    missing = lamed("results", "--namespace", NAMESPACE, "--experiment", "nope", redis_url=redis_url)
    assert missing.exit_code == 1 and "no data for experiment 'nope'" in missing.output
    empty = lamed("results", "--namespace", "empty", redis_url=redis_url)
    assert empty.exit_code == 0 and "No experiments with data in namespace 'empty'." in empty.output
