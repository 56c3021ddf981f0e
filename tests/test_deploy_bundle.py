"""The Lambda zip is complete on its own: unzipped in a temporary folder and
imported by a fresh ``python -I -S -B`` (read-only, like Lambda) with only that folder on the path, its
``app.handler`` counts a tracked event in real Redis, serves results, answers
an extra track path, a warm-up and the health payload (checking that Redis),
and never loads boto3, click or jinja2. Its hiredis is the wheel for the
function's architecture, whatever machine builds it."""

from __future__ import annotations

import json
import platform
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import redis
from conftest import API_KEY, ROOT
from deploy_support import proxy_event

from lamed.deploy.package import FORBIDDEN_TOP_LEVEL, build_bundle
from lamed.deploy.plan import PlanError, lambda_runtime

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


# ELF e_machine of each architecture's compiled code, and its wheels' platform.
ELF_MACHINES = {"x86_64": 62, "arm64": 183}
WHEEL_MACHINES = {"x86_64": "x86_64", "arm64": "aarch64"}


@pytest.fixture(scope="module")
def bundle():
    return build_bundle("x86_64")


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
    assert native == {"hiredis/hiredis.cpython-{}{}-x86_64-linux-gnu.so".format(*sys.version_info[:2])}
    assert f"lamed/store/__pycache__/results.{sys.implementation.cache_tag}.pyc" in names
    assert build_bundle("x86_64").sha256 == bundle.sha256  # deterministic: an unchanged deploy is recognised
    assert bundle.warnings == ()


@pytest.mark.parametrize("architecture", ["x86_64", "arm64"])
def test_hiredis_is_the_wheel_for_the_functions_architecture_and_python(architecture, tmp_path):
    built = build_bundle(architecture)
    (tmp_path / "bundle.zip").write_bytes(built.data)
    with zipfile.ZipFile(tmp_path / "bundle.zip") as archive:
        archive.extractall(tmp_path / "task")
    task = tmp_path / "task"
    (wheel_file,) = task.glob("hiredis-*.dist-info/WHEEL")
    tags = [line.split(": ", 1)[1] for line in wheel_file.read_text().splitlines() if line.startswith("Tag: ")]
    python = "cp{}{}".format(*sys.version_info[:2])
    assert tags and all(tag.startswith(f"{python}-{python}-manylinux") for tag in tags)
    assert all(tag.endswith("_" + WHEEL_MACHINES[architecture]) for tag in tags), tags
    (library,) = task.glob("hiredis/*.so")
    header = library.read_bytes()[:20]
    assert header[:4] == b"\x7fELF" and int.from_bytes(header[18:20], "little") == ELF_MACHINES[architecture]


def test_the_function_runs_on_the_lambda_runtime_of_the_deploying_python():
    assert lambda_runtime((3, 11)) == "python3.11"
    assert lambda_runtime((3, 13)) == "python3.13"
    # 3.9 and 3.10 are past their end of life: Lamed needs 3.11 (setup.py).
    with pytest.raises(PlanError, match=r"Python 3\.10 has no Lambda runtime; deploy with one of 3\.11, 3\.12, 3\.13"):
        lambda_runtime((3, 10))


def test_a_wheel_that_cannot_be_fetched_leaves_hiredis_out_with_a_warning(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))  # nothing cached
    monkeypatch.setenv("PIP_NO_INDEX", "1")  # and nowhere to download from
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path))
    built = build_bundle("arm64")
    assert not [name for name in built.names if name.startswith("hiredis")]
    (warning,) = built.warnings
    assert "hiredis left out" in warning and "manylinux2014_aarch64" in warning


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
        {"lamed-health": True},
        track("/track", "u-1"),
        track("/track", "u-1"),
        track("/collect", "u-2"),
        results_event,
    ]
    out = invoke(unzipped, events, redis_url)
    warm, health, counted, duplicate, extra_path, results = out["responses"]
    assert warm == {"warm": True}
    report = health["lamed-health"]
    assert report["ok"] is True and report["writable"] is True and report["maxmemory_policy"] == "noeviction"
    assert report["redis"] == redis_url.split("//")[1].split("/")[0] and report["round_trip_ms"] > 0
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


def test_the_health_payload_from_the_bundle_names_what_failed(unzipped):
    (answer,) = invoke(unzipped, [{"lamed-health": True}], "redis://127.0.0.1:1/0")["responses"]
    report = answer["lamed-health"]
    assert report["ok"] is False and report["reachable"] is False
    assert (report["failed"], report["cause"]) == ("tcp", "refused")
