"""The operator's commands as the operator runs them (a real ``lamed``
process): configure, preflight, snippet, and the one-line errors for missing
credentials, unreachable Redis and a malformed config."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import redis
from deploy_support import aws_environment

from lamed.cli.embedded import free_port
from lamed.core.errors import SettingsError


@pytest.fixture
def home(tmp_path) -> Path:
    return tmp_path


@pytest.fixture
def config_path(home) -> Path:
    return home / "lamed" / "config.json"


def run(config_path: Path, *args: str, env: dict = None, timeout: float = 60) -> subprocess.CompletedProcess:
    """``python -m lamed ARGS`` with only this test's config and AWS settings."""
    clean = {name: value for name, value in os.environ.items() if not name.startswith(("AWS_", "LAMED_"))}
    clean.update(LAMED_CONFIG=str(config_path), HOME=str(config_path.parent), AWS_EC2_METADATA_DISABLED="true")
    clean.update(AWS_CONFIG_FILE="/nonexistent", AWS_SHARED_CREDENTIALS_FILE="/nonexistent")
    clean.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "lamed", *args], capture_output=True, text=True, env=clean, timeout=timeout
    )


def assert_one_line_error(done: subprocess.CompletedProcess, *fragments: str) -> None:
    assert done.returncode == 1, done
    assert "Traceback" not in done.stderr + done.stdout
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), done.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def test_configure_with_flags_writes_a_private_config(config_path):
    done = run(config_path, "configure", "--redis-url", "redis://cache:6379/0", "--region", "eu-west-1",
               "--track-path", "/collect", "--track-path", "/c2", "--uuid-expiry-seconds", "600")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE(config_path.stat().st_mode) == 0o600
    config = json.loads(config_path.read_text())
    assert config["redis_url"] == "redis://cache:6379/0" and config["aws_region"] == "eu-west-1"
    assert config["track_paths"] == ["/collect", "/c2"] and config["uuid_expiry_seconds"] == 600
    assert len(config["api_key"]) >= 40  # generated

    key = config["api_key"]
    assert run(config_path, "configure", "--namespace", "shop").returncode == 0
    config = json.loads(config_path.read_text())
    assert config["namespace"] == "shop" and config["api_key"] == key and config["redis_url"] == "redis://cache:6379/0"
    assert run(config_path, "configure", "--new-api-key").returncode == 0
    assert json.loads(config_path.read_text())["api_key"] != key


def test_configure_refuses_invalid_values_and_writes_nothing(config_path):
    assert run(config_path, "configure", "--redis-url", "redis://cache:6379/0").returncode == 0
    before = config_path.read_text()
    done = run(config_path, "configure", "--redis-url", "http://cache")
    assert_one_line_error(done, "redis_url must start with")
    done = run(config_path, "configure", "--track-path", "collect")
    assert_one_line_error(done, "track path 'collect'")
    assert config_path.read_text() == before


def test_configure_sets_and_clears_the_vpc_and_the_architecture(config_path):
    done = run(config_path, "configure", "--vpc-subnet-ids", "subnet-a, subnet-b", "--vpc-security-group-ids",
               "sg-1", "--architecture", "arm64")  # fmt: skip
    assert done.returncode == 0, done.stderr
    config = json.loads(config_path.read_text())
    assert config["vpc_subnet_ids"] == ["subnet-a", "subnet-b"] and config["vpc_security_group_ids"] == ["sg-1"]
    assert config["architecture"] == "arm64"
    assert_one_line_error(run(config_path, "configure", "--vpc-security-group-ids", ""), "go together")
    assert_one_line_error(run(config_path, "configure", "--vpc-subnet-ids", "sub-1"), "not an id starting with subnet-")
    assert run(config_path, "configure", "--architecture", "arm").returncode == 2
    assert run(config_path, "configure", "--no-vpc").returncode == 0
    config = json.loads(config_path.read_text())
    assert config["vpc_subnet_ids"] == [] and config["vpc_security_group_ids"] == []  # explicit: removed on deploy


def test_vpc_and_architecture_from_the_environment(config_path):
    from lamed.core.settings import load_settings

    environ = {"LAMED_VPC_SUBNET_IDS": "subnet-a,subnet-b", "LAMED_VPC_SECURITY_GROUP_IDS": "sg-1",
               "LAMED_ARCHITECTURE": "arm64"}  # fmt: skip
    settings = load_settings(config_path, environ)
    assert settings.vpc_subnet_ids == ("subnet-a", "subnet-b") and settings.vpc_security_group_ids == ("sg-1",)
    assert settings.architecture == "arm64"
    assert load_settings(config_path, {}).vpc_subnet_ids is None  # not set: a VPC set by hand is left alone
    cleared = load_settings(config_path, {"LAMED_VPC_SUBNET_IDS": "", "LAMED_VPC_SECURITY_GROUP_IDS": ""})
    assert cleared.vpc_subnet_ids == () and cleared.vpc_security_group_ids == ()
    assert load_settings(config_path, {}).architecture is None  # not set: arm64 if new, else the function's own
    environ = {"LAMED_TRACK_ENDPOINT": "rest_api", "LAMED_RESERVED_CONCURRENCY": "0", "LAMED_LOG_RETENTION_DAYS": "7"}
    settings = load_settings(config_path, environ)
    assert (settings.track_endpoint, settings.reserved_concurrency, settings.log_retention_days) == ("rest_api", 0, 7)
    assert load_settings(config_path, {}).track_endpoint == "function_url"
    with pytest.raises(SettingsError, match="track_endpoint must be function_url"):
        load_settings(config_path, {"LAMED_TRACK_ENDPOINT": "http_api"})


def test_configure_opens_the_editor(config_path, home):
    editor = home / "editor.py"
    # A scripted "editor": sets the namespace in the JSON file it is given.
    editor.write_text(
        "import json, sys\n"
        "path = sys.argv[1]\n"
        "config = json.load(open(path))\n"
        "config['namespace'] = 'edited'\n"
        "json.dump(config, open(path, 'w'))\n"
    )
    done = run(config_path, "configure", "--edit", env={"EDITOR": f"{sys.executable} {editor}"})
    assert done.returncode == 0, done.stderr
    assert json.loads(config_path.read_text())["namespace"] == "edited"


def test_malformed_config_is_one_line_error_everywhere(config_path):
    config_path.parent.mkdir(parents=True)
    config_path.write_text("{not json")
    for command in (["deploy"], ["deploy", "--dry-run"], ["snippet", "--url", "http://x"], ["promote"],
                    ["rollback"], ["canary", "status"], ["configure", "--namespace", "x"]):  # fmt: skip
        assert_one_line_error(run(config_path, *command), "cannot read config")
    done = run(config_path, "preflight")
    assert done.returncode == 1 and "FAIL  config" in done.stdout and "Traceback" not in done.stdout + done.stderr


def configured(config_path: Path, redis_url: str) -> None:
    done = run(config_path, "configure", "--redis-url", redis_url, "--region", "us-east-1")
    assert done.returncode == 0, done.stderr


def test_missing_credentials(config_path, redis_url):
    configured(config_path, redis_url)
    assert_one_line_error(run(config_path, "deploy"), "no AWS credentials found")
    assert_one_line_error(run(config_path, "rollback"), "no AWS credentials found")
    done = run(config_path, "preflight")
    assert done.returncode == 1 and "Traceback" not in done.stdout + done.stderr
    assert "FAIL  aws account  no AWS credentials found" in done.stdout
    assert "PASS  redis" in done.stdout


def test_unreachable_redis(config_path, moto, home):
    moto.reset()
    configured(config_path, f"redis://127.0.0.1:{free_port()}/0")
    done = run(config_path, "preflight", env=aws_environment(moto.url, str(home)))
    assert done.returncode == 1 and "Traceback" not in done.stdout + done.stderr
    (redis_line,) = [line for line in done.stdout.splitlines() if "redis" in line]
    assert redis_line.startswith("FAIL  redis") and "fix:" in redis_line
    assert "PASS  aws account" in done.stdout


def test_unreachable_redis_with_a_vpc_is_left_to_the_check_from_inside(config_path, moto, home, redis_url):
    moto.reset()
    configured(config_path, f"redis://127.0.0.1:{free_port()}/0")
    vpc = ("--vpc-subnet-ids", "subnet-1", "--vpc-security-group-ids", "sg-1")
    assert run(config_path, "configure", *vpc).returncode == 0
    done = run(config_path, "preflight", env=aws_environment(moto.url, str(home)))
    assert done.returncode == 0, done.stdout
    (redis_line,) = [line for line in done.stdout.splitlines() if "redis" in line]
    assert redis_line.startswith("SKIP  redis") and "expected for ElastiCache" in redis_line
    assert "lamed deploy` checks it from inside the function" in redis_line

    configured(config_path, redis_url.rsplit("/", 1)[0] + "/99")  # answers, and refuses (no such database)
    done = run(config_path, "preflight", env=aws_environment(moto.url, str(home)))
    assert done.returncode == 1 and "FAIL  redis" in done.stdout


def test_preflight_passes_when_all_is_ready(config_path, moto, home, redis_url):
    moto.reset()
    configured(config_path, redis_url)
    done = run(config_path, "preflight", env=aws_environment(moto.url, str(home)))
    assert done.returncode == 0, done.stdout
    assert [line.split()[0] for line in done.stdout.splitlines()] == ["PASS"] * 5 + ["WARN"], done.stdout
    assert "maxmemory is 0" in done.stdout.splitlines()[-1]  # the test redis-server has no limit
    assert redis.Redis.from_url(redis_url).dbsize() == 0  # the probe cleans up after itself


def test_snippet_points_alephbet_at_the_track_url(config_path, home):
    assert run(config_path, "configure", "--namespace", 'shop"</script>', "--track-path", "/collect").returncode == 0
    done = run(config_path, "snippet", "--url", "https://example.test/api/")
    assert done.returncode == 0, done.stderr
    assert 'new AlephBet.LamedAdapter("https://example.test/api/collect", "shop\\"\\u003c/script>")' in done.stdout
    script = done.stdout.split("<script>", 1)[1].split("</script>", 1)[0]
    (home / "snippet.js").write_text(script)
    checked = subprocess.run(["node", "--check", str(home / "snippet.js")], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
