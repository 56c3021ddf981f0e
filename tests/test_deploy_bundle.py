"""The Lambda zip is complete on its own: unzipped in a temporary folder and
imported by a fresh ``python -I -S -B`` (read-only, like Lambda) with only that folder on the path, its
``app.handler`` counts a tracked event in real Redis, serves results, answers
an extra track path and a warm-up, and never loads boto3, click or jinja2."""

from __future__ import annotations

import json
import platform
import subprocess
import sys
import zipfile
from pathlib import Path

import hiredis
import pytest
import redis
from conftest import API_KEY, ROOT
from deploy_support import proxy_event

from lamed.deploy.package import FORBIDDEN_TOP_LEVEL, build_bundle

GATEWAY_KEY = API_KEY + "-gateway"

# Runs inside the isolated interpreter: invokes the handler with each event
# given on stdin and prints the responses, plus the modules that got imported.
INVOKER = """
import json, sys
sys.path.insert(0, sys.argv[1])
import app
events = json.load(sys.stdin)
responses = [app.handler(event, None) for event in events]
heavy = sorted(name for name in ("boto3", "botocore", "click", "jinja2") if name in sys.modules)
hiredis = getattr(sys.modules.get("hiredis"), "__file__", None)
print(json.dumps({"responses": responses, "heavy": heavy, "path": sys.path, "hiredis": hiredis}))
"""


@pytest.fixture(scope="module")
def bundle():
    return build_bundle()


@pytest.fixture(scope="module")
def unzipped(bundle, tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp("bundle")
    (target / "bundle.zip").write_bytes(bundle.data)
    with zipfile.ZipFile(target / "bundle.zip") as archive:
        archive.extractall(target / "task")
    return target / "task"


def test_bundle_holds_the_runtime_and_nothing_of_the_operator(bundle):
    names = set(bundle.names)
    for required in ("app.py", "lamed/__init__.py", "chalice/__init__.py", "chalice/app.py", "redis/__init__.py",
                     "jinja2/__init__.py", "markupsafe/__init__.py"):  # fmt: skip
        assert required in names
    templates = {p.relative_to(ROOT).as_posix() for p in (ROOT / "dashboard_templates").rglob("*") if p.is_file()}
    assert templates <= names
    top_level = {name.split("/")[0] for name in names}
    assert not top_level & set(FORBIDDEN_TOP_LEVEL)
    chalice_sources = {name for name in names if name.startswith("chalice/") and name.endswith(".py")}
    assert chalice_sources == {"chalice/__init__.py", "chalice/app.py"}
    assert not any(name.startswith(("lamed/deploy/", "lamed/cli/")) for name in names)  # the operator's tools
    native = {name for name in names if name.endswith((".so", ".pyd"))}
    if sys.platform == "linux" and platform.machine() == "x86_64":  # hiredis loads on the function: bundled
        assert native == {f"hiredis/{path.name}" for path in Path(hiredis.__file__).parent.glob("*.so")}
    else:
        assert native == set()
    assert f"lamed/store/__pycache__/results.{sys.implementation.cache_tag}.pyc" in names
    assert build_bundle().sha256 == bundle.sha256  # deterministic: an unchanged deploy is recognised


def invoke(task_dir: Path, events: list, redis_url: str) -> dict:
    env = {
        "LAMED_REDIS_URL": redis_url,
        "LAMED_API_KEY": GATEWAY_KEY,
        "LAMED_TRACK_PATHS": "/collect",
        "LAMED_CONFIG": str(task_dir / "no-config.json"),
    }
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-B", "-c", INVOKER, str(task_dir)],
        input=json.dumps(events), capture_output=True, text=True, env=env, timeout=60, cwd=task_dir,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def track(resource: str, uuid: str) -> dict:
    query = {"namespace": "site", "experiment": "button colour", "variant": "red", "event": "participate", "uuid": uuid}
    return proxy_event("GET", resource, resource, query=query)


def test_handler_from_the_unzipped_bundle_alone(unzipped, redis_url):
    results_event = proxy_event(
        "GET", "/experiments", "/experiments", query={"namespace": "site"}, headers={"x-api-key": GATEWAY_KEY}
    )
    events = [
        {"lamed-warmup": True},
        track("/track", "u-1"),
        track("/track", "u-1"),
        track("/collect", "u-2"),
        results_event,
    ]
    out = invoke(unzipped, events, redis_url)
    warm, counted, duplicate, extra_path, results = out["responses"]
    assert warm == {"warm": True}
    assert counted["statusCode"] == 200 and json.loads(counted["body"])["status"] == "counted"
    assert duplicate["statusCode"] == 200 and json.loads(duplicate["body"])["status"] == "duplicate"
    assert extra_path["statusCode"] == 200 and json.loads(extra_path["body"])["status"] == "counted"
    assert results["statusCode"] == 200 and "button colour" in results["body"]
    assert out["heavy"] == []
    site_packages = [entry for entry in out["path"] if "site-packages" in entry]
    assert site_packages == [], "the isolated interpreter must see only the bundle and the standard library"
    if sys.platform == "linux" and platform.machine() == "x86_64":
        assert out["hiredis"].startswith(str(unzipped))  # the bundle's own C parser loaded

    client = redis.Redis.from_url(redis_url)
    assert client.dbsize() > 0  # the events really reached this Redis
    client.close()


def test_warmup_needs_no_redis(unzipped):
    out = invoke(unzipped, [{"lamed-warmup": True}, track("/track", "u-3")], "redis://127.0.0.1:1/0")
    warm, unreachable = out["responses"]
    assert warm == {"warm": True}
    assert unreachable["statusCode"] == 503
