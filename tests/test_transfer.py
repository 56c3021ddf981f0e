"""``lamed export`` / ``lamed import`` round trip counters and definitions
through JSON; ``lamed import --from-lamed`` reads a Lamed 0.4.3 / Gimel Redis."""

from __future__ import annotations

import json

import pytest
import redis
from click.testing import CliRunner

from lamed.cli.main import main
from lamed.core import keys
from lamed.core.definitions import definition_from_dict
from lamed.core.events import Event
from lamed.store.definitions import DefinitionStore


@pytest.fixture
def cli(redis_url, monkeypatch):
    monkeypatch.setenv("LAMED_REDIS_URL", redis_url)
    runner = CliRunner()
    return lambda *args, **kwargs: runner.invoke(main, list(args), catch_exceptions=False, **kwargs)


def _snapshot(store) -> dict:
    return {
        (namespace, counts.name): counts.daily
        for namespace in store.namespaces()
        for counts in store.results(namespace, store.experiment_names(namespace))
    }


def test_export_then_import_restores_counters_and_definitions(store, cli, tmp_path):
    for day, uuid in ((0, "u1"), (86400, "u2"), (86400, "u3")):
        store.track(Event("alephbet", "my a/b test", "A", "participate", uuid), now=1.7e9 + day)
    store.track(Event("other:ns", "exp {1}", "B", "buy", "u1"))
    definitions = DefinitionStore(store.client, keys.DEFAULT_KEYS)
    definitions.put("alephbet", definition_from_dict("my a/b test", {"variants": {"A": 1, "B": 1}}))
    before, defined = _snapshot(store), definitions.all()
    path = tmp_path / "backup.json"
    assert cli("export", "--output", str(path)).exit_code == 0
    document = json.loads(path.read_text())
    assert document["format"] == "lamed-export" and len(document["definitions"]) == 1
    store.client.flushall()
    result = cli("import", str(path))
    assert result.exit_code == 0, result.output
    assert "imported 2 experiments, 3 counters, 1 definitions" in result.output
    assert _snapshot(store) == before and definitions.all() == defined
    assert cli("import", str(path)).exit_code == 0  # a restore: twice is the same state
    assert _snapshot(store) == before
    assert json.loads(cli("export").output) == document


def test_a_bad_document_is_refused_whole_with_one_line(store, cli, tmp_path):
    good = {
        "namespace": "n",
        "experiment": "e",
        "counts": [{"day": "20250101", "event": "x", "variant": "A", "count": 1}],
    }
    bad = {
        "namespace": "n",
        "experiment": "f",
        "counts": [{"day": "20250101", "event": "x", "variant": "A", "count": -1}],
    }
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"format": "lamed-export", "version": 1, "experiments": [good, bad]}))
    result = CliRunner().invoke(main, ["import", str(path)])
    assert result.exit_code == 1 and "count must be a non-negative integer" in result.output
    assert store.namespaces() == []
    path.write_text("{not json")
    assert "not JSON" in CliRunner().invoke(main, ["import", str(path)]).output


def test_import_from_lamed_reads_old_keys_into_one_day(store, cli, redis_server):
    old_url = redis_server.url.rsplit("/", 1)[0] + "/1"  # another database of the test's redis-server
    old = redis.Redis.from_url(old_url)
    old.flushdb()
    old.sadd("alephbet:experiments", "button color", "signup")
    counters = {
        "alephbet:counters:button color:participate:red": 40,
        "alephbet:counters:button color:participate:green": 38,
        "alephbet:counters:button color:buy:red": 7,
        "alephbet:counters:button color:add:to:cart:green": 3,  # a goal holding ':'
    }
    for key, value in counters.items():
        old.set(key, value)
        old.sadd("alephbet:button color:counter_keys", key)
    old.pfadd("alephbet:counters:signup:participate:B", *[f"user {i}" for i in range(25)])  # Gimel's HyperLogLog
    old.sadd("alephbet:signup:counter_keys", "alephbet:counters:signup:participate:B")
    result = cli("import", "--from-lamed", old_url, "--day", "20240229")
    assert result.exit_code == 0, result.output
    button = store.experiment("alephbet", "button color")
    assert button.daily == {
        ("20240229", "participate", "red"): 40,
        ("20240229", "participate", "green"): 38,
        ("20240229", "buy", "red"): 7,
        ("20240229", "add:to:cart", "green"): 3,
    }
    assert store.experiment("alephbet", "signup").count("participate", "B") == 25
    assert store.experiment_names("alephbet") == ["button color", "signup"]
    assert "must be YYYYMMDD" in CliRunner().invoke(main, ["import", "--from-lamed", old_url, "--day", "x"]).output
    old.flushdb()
    old.close()
