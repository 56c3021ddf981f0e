"""Experiment definitions: validation, persistence on real Redis, the
per-process cache, the HTTP API (/definitions, /assign, /track hook), the CLI
and the Alephbet snippet."""

from __future__ import annotations

import json
import time

import pytest
import redis
from click.testing import CliRunner
from conftest import API_KEY, http

from lamed.cli.experiments import experiments
from lamed.core import keys
from lamed.core.definitions import definition_from_dict, updated
from lamed.core.errors import DefinitionExists, DefinitionNotFound, InvalidInput, SettingsError
from lamed.core.lifecycle import DefinitionsSnapshot
from lamed.core.settings import load_settings, write_config_file
from lamed.dashboard.snippet import alephbet_snippet_for_definition
from lamed.store.definitions import DefinitionStore
from lamed.web import runtime

VALID = {"variants": {"A": 50, "B": 50}, "status": "running"}
KEY = {"x-api-key": API_KEY}


# -- validation ---------------------------------------------------------


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"colour": "red"}, "colour"),
        ({"variants": {}}, "variants"),
        ({"variants": ["A", "B"]}, "variants"),
        ({"variants": {"A": -1, "B": 2}}, "variants.A"),
        ({"variants": {"A": 0, "B": 0}}, "variants"),
        ({"variants": {"A": True, "B": 1}}, "variants.A"),
        ({"variants": {"A": "50", "B": 1}}, "variants.A"),
        ({"variants": {"\ud800": 1}}, "variants"),
        ({"control": "Z"}, "control"),
        ({"control": ["A"]}, "control"),
        ({"coverage": 101}, "coverage"),
        ({"coverage": 10**400}, "coverage"),
        ({"variants": {"A": 1e308, "B": 1e308}}, "variants.A"),
        ({"variants": {"A": 1e-320, "B": 0}}, "variants.A"),
        ({"variants": {"A": 10**400}}, "variants.A"),
        ({"variants": {"A": 0, "B": 0}}, "variants"),
        ({"rules": [{"attribute": "age", "op": "gt", "value": 10**400, "variant": "A"}]}, "rules[0].value"),
        ({"rules": [{"attribute": "age", "op": "eq", "value": -(10**400), "variant": "A"}]}, "rules[0].value"),
        ({"rules": [{"attribute": "age", "op": "in", "value": [1, 1e300], "variant": "A"}]}, "rules[0].value"),
        ({"coverage": -0.5}, "coverage"),
        ({"status": "live"}, "status"),
        ({"status": "stopped"}, "winner"),
        ({"status": "stopped", "winner": "Z"}, "winner"),
        ({"winner": "A"}, "winner"),
        ({"rules": {}}, "rules"),
        ({"rules": [{"attribute": "g", "op": "like", "value": "x", "variant": "A"}]}, "rules[0].op"),
        ({"rules": [{"attribute": "g", "op": "eq", "value": "x", "variant": "A", "why": 1}]}, "rules[0].why"),
        ({"rules": [{"attribute": "g", "op": "eq", "value": "x"}]}, "rules[0].variant"),
        ({"rules": [{"attribute": "g", "op": "eq", "value": 1, "variant": "A", "exclude": True}]}, "rules[0].variant"),
        ({"rules": [{"attribute": "g", "op": "eq", "value": "x", "variant": "Z"}]}, "rules[0].variant"),
        ({"rules": [{"attribute": "", "op": "eq", "value": "x", "variant": "A"}]}, "rules[0].attribute"),
        ({"rules": [{"attribute": "age", "op": "gt", "value": "18", "variant": "A"}]}, "rules[0].value"),
        ({"rules": [{"attribute": "g", "op": "in", "value": "vip", "variant": "A"}]}, "rules[0].value"),
        ({"rules": [{"attribute": "g", "op": "in", "value": [], "variant": "A"}]}, "rules[0].value"),
        ({"rules": [{"attribute": "g", "op": "eq", "value": {"a": 1}, "variant": "A"}]}, "rules[0].value"),
        ({"rules": ["vip"]}, "rules[0]"),
        ({"forced": {"qa": "Z"}}, "forced.qa"),
        ({"forced": ["qa"]}, "forced"),
        ({"description": 7}, "description"),
        ({"primary_goal": ""}, "primary_goal"),
        ({"primary_goal": ["signup"]}, "primary_goal"),
        ({"deciding_test": "bayesian"}, "deciding_test"),
        ({"deciding_test": True}, "deciding_test"),
    ],
)
def test_invalid_definitions_are_refused_naming_the_field(changes, field):
    with pytest.raises(InvalidInput) as raised:
        definition_from_dict("exp", {**VALID, **changes})
    assert raised.value.field == field, raised.value.message


def test_unknown_field_error_is_clear():
    with pytest.raises(InvalidInput, match="unknown field 'weights'; allowed: variants, control"):
        definition_from_dict("exp", {**VALID, "weights": {"A": 1}})


def test_defaults_and_round_trip():
    definition = definition_from_dict("exp", {"variants": {"B": 1, "A": 3}})
    assert (definition.control, definition.status, definition.coverage, definition.seed) == ("B", "draft", 100, "exp")
    assert definition_from_dict("exp", definition.to_dict()) == definition
    full = {
        **VALID,
        "coverage": 12.5,
        "rules": [
            {"attribute": "grade", "op": "in", "value": ["vip", 3, True], "variant": "A"},
            {"attribute": "age", "op": "lt", "value": 18, "exclude": True},
        ],
        "forced": {"qa": "B"},
        "seed": "s2",
        "description": "checkout button",
    }
    assert definition_from_dict("exp", full).to_dict() == {**full, "control": "A", "winner": None}


def test_primary_goal_and_deciding_test_round_trip_and_are_left_out_while_unset():
    plain = definition_from_dict("exp", VALID)
    assert plain.primary_goal is None and plain.deciding_test is None
    assert "primary_goal" not in plain.to_dict() and "deciding_test" not in plain.to_dict()
    chosen = definition_from_dict("exp", {**VALID, "primary_goal": "signup", "deciding_test": "fixed"})
    assert (chosen.primary_goal, chosen.deciding_test) == ("signup", "fixed")
    assert definition_from_dict("exp", chosen.to_dict()) == chosen
    assert updated(chosen, {"deciding_test": None}).deciding_test is None


def test_updated_revalidates():
    definition = definition_from_dict("exp", VALID)
    assert updated(definition, {"status": "stopped", "winner": "B"}).winner == "B"
    with pytest.raises(InvalidInput):
        updated(definition, {"variants": {"C": 1}})  # control A would be gone


# -- persistence on real Redis -----------------------------------------


def test_store_create_update_list_delete(store):
    definitions = DefinitionStore(store.client, keys.DEFAULT_KEYS)
    tricky = 'a:b "c" {d} /e'
    definitions.create("ns", definition_from_dict(tricky, VALID))
    definitions.create("ns:2", definition_from_dict("other", VALID))
    with pytest.raises(DefinitionExists):
        definitions.create("ns", definition_from_dict(tricky, VALID))
    paused = definitions.update("ns", tricky, lambda d: updated(d, {"status": "paused"}))
    assert definitions.get("ns", tricky) == paused
    assert [d.name for d in definitions.list("ns")] == [tricky]
    assert [d.name for d in definitions.list("ns:2")] == ["other"]
    assert definitions.get("ns", "other") is None
    with pytest.raises(DefinitionNotFound):
        definitions.update("ns", "missing", lambda d: d)
    assert definitions.delete("ns", tricky) and not definitions.delete("ns", tricky)


def test_update_retries_when_a_concurrent_writer_got_there_first(store):
    definitions = DefinitionStore(store.client, keys.DEFAULT_KEYS)
    definitions.create("ns", definition_from_dict("exp", VALID))
    interfered = []

    def change(current):
        if not interfered:  # another writer changes it between our read and our write
            interfered.append(True)
            definitions.put("ns", updated(current, {"coverage": 10}))
        return updated(current, {"status": "paused"})

    result = definitions.update("ns", "exp", change)
    assert (result.status, result.coverage) == ("paused", 10)  # built on the concurrent write, not over it
    assert definitions.get("ns", "exp") == result


def test_an_invalid_stored_definition_is_skipped_not_fatal(store):
    definitions = DefinitionStore(store.client, keys.DEFAULT_KEYS)
    definitions.create("ns", definition_from_dict("good", VALID))
    store.client.hset(keys.DEFAULT_KEYS.definitions, keys.definition_field("ns", "bad"), b'{"variants": {}}')
    assert list(definitions.all()) == [("ns", "good")]


def test_redis_down_is_store_unavailable():
    from lamed.cli.embedded import free_port
    from lamed.core.errors import StoreUnavailable
    from lamed.store.redis_client import connect

    definitions = DefinitionStore(connect(f"redis://127.0.0.1:{free_port()}/0", 0.2), keys.DEFAULT_KEYS)
    with pytest.raises(StoreUnavailable):
        definitions.all()


# -- cache ---------------------------------------------------------------


def test_one_snapshot_serves_statuses_and_definitions_until_the_ttl_then_reloads():
    now = [100.0]
    loads = []
    field = keys.definition_field("ns", "e")
    documents = [
        {field: json.dumps({**VALID, "status": "paused"}).encode()},
        {field: json.dumps(VALID).encode(), b"not json": b"{}"},
    ]

    def load():
        loads.append(now[0])
        return documents[len(loads) - 1]

    snapshot = DefinitionsSnapshot(load, ttl_seconds=10, clock=lambda: now[0])
    assert snapshot.not_counted_reason("ns", "e") == "paused" and snapshot.not_counted_reason("ns", "other") is None
    assert snapshot.definition("ns", "e").status == "paused" and snapshot.definition("ns", "other") is None
    now[0] = 109.9
    assert snapshot.not_counted_reason("ns", "e") == "paused"
    now[0] = 110.0
    assert snapshot.not_counted_reason("ns", "e") is None  # /track and /assign see the change together
    assert snapshot.definition("ns", "e").status == "running"
    assert loads == [100.0, 110.0]
    snapshot.invalidate()
    with pytest.raises(IndexError):  # reloads on the next read, not before
        snapshot.definition("ns", "e")


def test_cache_ttl_setting(tmp_path):
    def cache_ttl_seconds(file_values: dict, environ: dict) -> float:
        path = tmp_path / "config.json"
        write_config_file(path, file_values)
        return load_settings(path, environ).definition_cache_seconds

    assert cache_ttl_seconds({}, environ={}) == 10
    assert cache_ttl_seconds({"definition_cache_seconds": 2}, environ={}) == 2
    assert cache_ttl_seconds({}, environ={"LAMED_DEFINITION_CACHE_SECONDS": "0.5"}) == 0.5
    for bad in ("soon", "-1", "100000"):
        with pytest.raises(SettingsError):
            cache_ttl_seconds({}, environ={"LAMED_DEFINITION_CACHE_SECONDS": bad})


# -- HTTP ----------------------------------------------------------------


@pytest.fixture
def api(live_server, settings, store):
    """The live server with the definition cache off, so each request sees Redis."""
    runtime.install(settings.replace(definition_cache_seconds=0), store)
    return live_server.url


def put(api, name, document, headers=KEY, namespace="alephbet"):
    return http("PUT", f"{api}/definitions/{name}?namespace={namespace}", document, headers)


def test_definition_endpoints_need_the_api_key(api):
    assert put(api, "exp", VALID, headers={}).status == 401
    assert put(api, "exp", VALID, headers={"x-api-key": "wrong-key-0123456789"}).status == 403
    assert http("GET", f"{api}/definitions").status == 401
    assert http("POST", f"{api}/definitions/exp/pause", b"").status == 401


def test_definition_endpoints_crud_and_lifecycle(api):
    created = put(api, "exp", VALID)
    assert created.status == 201 and created.json()["status"] == "running"
    assert put(api, "exp", {**VALID, "coverage": 50}).status == 200
    assert http("GET", f"{api}/definitions/exp", headers=KEY).json()["coverage"] == 50
    assert [d["experiment"] for d in http("GET", f"{api}/definitions", headers=KEY).json()["definitions"]] == ["exp"]
    assert http("POST", f"{api}/definitions/exp/pause", b"", KEY).json()["status"] == "paused"
    assert http("POST", f"{api}/definitions/exp/resume", b"", KEY).json()["status"] == "running"
    stopped = http("POST", f"{api}/definitions/exp/stop", {"winner": "B"}, KEY)
    assert (stopped.status, stopped.json()["status"], stopped.json()["winner"]) == (200, "stopped", "B")
    bad_winner = http("POST", f"{api}/definitions/exp/stop", {"winner": "Z"}, KEY)
    assert (bad_winner.status, bad_winner.json()["field"]) == (400, "winner")
    assert http("POST", f"{api}/definitions/nope/pause", b"", KEY).status == 404
    assert http("DELETE", f"{api}/definitions/exp", headers=KEY).json() == {"deleted": True, "experiment": "exp"}
    assert http("GET", f"{api}/definitions/exp", headers=KEY).status == 404


@pytest.mark.parametrize(
    "body, field",
    [
        (b"not json", "body"),
        (b"[1, 2]", "body"),
        (json.dumps({**VALID, "extra": 1}).encode(), "extra"),
        (json.dumps({"variants": {"A": -5}}).encode(), "variants.A"),
    ],
)
def test_invalid_definition_over_http_is_a_400_naming_the_field(api, body, field):
    response = put(api, "exp", body, headers={**KEY, "Content-Type": "text/plain"})
    assert response.status == 400 and response.json()["field"] == field


def test_assign_get_and_post_with_attributes(api):
    put(api, "exp", {**VALID, "rules": [{"attribute": "grade", "op": "eq", "value": "vip", "variant": "B"}]})
    vip = http("GET", f"{api}/assign?experiment=exp&user_id=u1&attr.grade=vip").json()
    assert (vip["variant"], vip["reason"], vip["rule"], vip["recorded"]) == ("B", "rule", 0, None)
    posted = http("POST", f"{api}/assign", {"experiment": "exp", "user_id": "u1", "attributes": {"grade": "x"}})
    assert posted.headers["Access-Control-Allow-Origin"] == "*"
    assert posted.json()["reason"] == "weights"
    again = http("GET", f"{api}/assign?experiment=exp&user_id=u1&attr.grade=x").json()
    assert again["variant"] == posted.json()["variant"]


@pytest.mark.parametrize(
    "query, status, field",
    [
        ("experiment=exp", 400, "user_id"),
        ("user_id=u1", 400, "experiment"),
        ("experiment=exp&user_id=" + "u" * 200, 400, "user_id"),
        ("experiment=missing&user_id=u1", 404, "experiment"),
    ],
)
def test_assign_bad_input(api, query, status, field):
    put(api, "exp", VALID)
    response = http("GET", f"{api}/assign?{query}")
    assert (response.status, response.json()["field"]) == (status, field)


def test_assign_bad_post_bodies(api):
    put(api, "exp", VALID)
    for body, field in [
        ({"experiment": "exp", "user_id": "u", "attributes": [1]}, "attributes"),
        ({"experiment": "exp", "user_id": "u", "attributes": {"a": {"b": 1}}}, "attributes.a"),
        ({"experiment": "exp", "user_id": "u", "record": "yes"}, "record"),
        ({"experiment": "exp", "user_id": "\ud800", "record": True}, "user_id"),  # lone surrogate: not UTF-8
        (b"{", "body"),
    ]:
        response = http("POST", f"{api}/assign", body, {"Content-Type": "application/json"})
        assert (response.status, response.json()["field"]) == (400, field)


def test_assign_records_participation_exactly_once(api, store):
    put(api, "exp", VALID)
    url = f"{api}/assign?experiment=exp&user_id=u1&record=1"
    first, second = http("GET", url).json(), http("GET", url).json()
    assert (first["recorded"], second["recorded"]) == ("counted", "duplicate")
    assert store.experiment("alephbet", "exp").count("participate", first["variant"]) == 1


def test_paused_and_stopped_assign_and_track(api, store):
    put(api, "exp", {**VALID, "control": "A"})
    track = f"{api}/track?experiment=exp&variant=B&event=participate&uuid="
    assert http("GET", track + "1").json() == {"status": "counted"}

    http("POST", f"{api}/definitions/exp/pause", b"", KEY)
    paused = http("GET", f"{api}/assign?experiment=exp&user_id=u1&record=true").json()
    assert (paused["variant"], paused["reason"], paused["recorded"]) == ("A", "paused", None)
    assert http("GET", track + "2").json() == {"status": "not_counted", "reason": "paused"}

    http("POST", f"{api}/definitions/exp/stop", {"winner": "B"}, KEY)
    stopped = http("GET", f"{api}/assign?experiment=exp&user_id=u1&record=true").json()
    assert (stopped["variant"], stopped["reason"], stopped["recorded"]) == ("B", "stopped", None)
    response = http("GET", track + "3")
    assert response.status == 200 and response.json() == {"status": "not_counted", "reason": "stopped"}
    single = http("POST", f"{api}/track", {"experiment": "exp", "variant": "B", "event": "buy", "uuid": "4"})
    assert single.json() == {"status": "not_counted", "reason": "stopped"}
    batch = http(
        "POST",
        f"{api}/track",
        [
            {"experiment": "exp", "variant": "B", "event": "buy", "uuid": "5"},
            {"experiment": "free", "variant": "B", "event": "buy", "uuid": "5"},
        ],
    ).json()
    assert (batch["not_counted"], batch["counted"]) == (1, 1)
    assert batch["results"][0] == {"status": "not_counted", "reason": "stopped"}

    counts = store.experiment("alephbet", "exp")
    assert counts.totals == {("participate", "B"): 1}  # only the event before the pause
    assert store.experiment("alephbet", "free").count("buy", "B") == 1  # no definition: unchanged


def test_tracking_without_definitions_is_unchanged(api, store):
    response = http("GET", f"{api}/track?experiment=plain&variant=a&event=participate&uuid=1")
    assert response.json() == {"status": "counted"}


def test_corrupt_definitions_hash_does_not_break_tracking(api, store):
    store.client.hset(keys.DEFAULT_KEYS.definitions, keys.definition_field("alephbet", "plain"), b"{not json")
    response = http("GET", f"{api}/track?experiment=plain&variant=a&event=participate&uuid=1")
    assert response.json() == {"status": "counted"}


# -- CLI -----------------------------------------------------------------


@pytest.fixture
def cli(redis_url, monkeypatch):
    monkeypatch.setenv("LAMED_REDIS_URL", redis_url)
    runner = CliRunner()

    def run(*args):
        return runner.invoke(experiments, list(args), catch_exceptions=False)

    return run


def test_cli_lifecycle(cli, redis_url, tmp_path):
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps({"rules": [{"attribute": "grade", "op": "eq", "value": "vip", "variant": "A"}]}))
    created = cli("create", "exp", "-v", "A=1", "-v", "B=3", "--coverage", "40", "-f", str(rules), "-n", "shop")
    assert created.exit_code == 0, created.output
    assert json.loads(created.output)["status"] == "draft"
    assert cli("create", "exp", "-v", "A=1", "-n", "shop").exit_code == 1
    assert cli("resume", "exp", "-n", "shop").exit_code == 0
    updated_output = cli("update", "exp", "--coverage", "100", "--force", "qa=B", "-n", "shop").output
    assert json.loads(updated_output)["forced"] == {"qa": "B"}
    assert json.loads(updated_output)["rules"][0]["variant"] == "A"  # untouched fields stay
    assert "exp\trunning\tA=1 B=3\tcoverage=100%" in cli("list", "-n", "shop").output
    assert json.loads(cli("pause", "exp", "-n", "shop").output)["status"] == "paused"
    refused = cli("stop", "exp", "--winner", "Z", "-n", "shop")
    assert refused.exit_code == 1 and "winner must be one of the variants: A, B (field: winner)" in refused.output
    assert json.loads(cli("stop", "exp", "--winner", "B", "-n", "shop").output)["winner"] == "B"
    stored = DefinitionStore(redis.Redis.from_url(redis_url), keys.DEFAULT_KEYS).get("shop", "exp")
    assert (stored.status, stored.winner, stored.forced) == ("stopped", "B", {"qa": "B"})
    assert cli("delete", "exp", "-n", "shop").exit_code == 0
    missing = cli("show", "exp", "-n", "shop")
    assert missing.exit_code == 1 and "has no definition" in missing.output


def test_cli_snippet_from_the_stored_definition(cli):
    cli("create", "exp", "-v", "A=1", "-v", "B=3")
    output = cli("snippet", "exp", "--track-url", "https://lamed.example/track").output
    assert output.startswith("<!-- load alephbet.min.js before this -->\n<script>\n")
    assert "weight: 1\n" in output and "weight: 3\n" in output and 'name: "exp"' in output
    assert cli("snippet", "nope", "--track-url", "https://x/track").exit_code == 1


def test_cli_refuses_bad_input_with_one_line(cli):
    negative = cli("create", "exp", "-v", "A=-1")
    assert negative.exit_code == 1
    assert "variants.A must be a finite number from 0 to 1e+06 (field: variants.A)" in negative.output
    assert cli("create", "exp", "-v", "A").exit_code == 2  # usage error: NAME=WEIGHT


def test_cli_without_redis_says_so(monkeypatch):
    monkeypatch.delenv("LAMED_REDIS_URL", raising=False)
    result = CliRunner().invoke(experiments, ["list"])
    assert result.exit_code == 1 and "no Redis configured" in result.output


# -- snippet -------------------------------------------------------------


def test_snippet_carries_variants_weights_and_coverage():
    definition = definition_from_dict("my a/b </script>", {"variants": {"A": 0.25, "B": 0.75}, "coverage": 30})
    snippet = alephbet_snippet_for_definition(definition, "https://lamed.example/track", "shop")
    assert 'new AlephBet.LamedAdapter("https://lamed.example/track", "shop")' in snippet
    assert '"A": {\n      activate: function () {},\n      weight: 250' in snippet
    assert "weight: 750" in snippet and "sample: 0.3," in snippet
    assert "</script>" not in snippet and 'name: "my a/b \\u003c/script>"' in snippet


@pytest.fixture
def site(tmp_path):
    """A static site on its own loopback origin (the API is another origin: CORS for real)."""
    import functools
    import http.server
    import threading

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(tmp_path)))
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield tmp_path, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


@pytest.mark.browser
def test_snippet_runs_in_the_real_alephbet_client(page, live_server, store, site):
    """The generated snippet, pasted into a page with the unmodified alephbet
    package in Chromium, reports participation to Lamed in the weighted variant."""
    from conftest import ROOT

    definition = definition_from_dict("snippet test", {"variants": {"A": 0, "B": 1}})
    snippet = alephbet_snippet_for_definition(definition, f"{live_server.url}/track", "shop")
    directory, origin = site
    (directory / "alephbet.min.js").write_bytes((ROOT / "node_modules/alephbet/dist/alephbet.min.js").read_bytes())
    html = f'<!doctype html><script src="alephbet.min.js"></script><script>{snippet}</script>'
    (directory / "index.html").write_text(html)
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{origin}/index.html")
    deadline = time.monotonic() + 10
    while store.experiment("shop", "snippet test").count("participate", "B") != 1:
        assert not errors and time.monotonic() < deadline, errors
        time.sleep(0.1)
    assert store.experiment("shop", "snippet test").totals == {("participate", "B"): 1}
