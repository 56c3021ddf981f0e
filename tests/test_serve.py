"""``lamed serve`` as a user runs it: embedded Redis by default, or yours."""

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import http

from lamed.cli.embedded import free_port

LAMED = str(Path(sys.executable).parent / "lamed")


def start_serve(env, *args):
    port = free_port()
    process = subprocess.Popen(
        [LAMED, "serve", "--port", str(port), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if "serving on" in line:
            return process, f"http://127.0.0.1:{port}", "".join(lines)
    process.kill()
    pytest.fail("lamed serve did not start:\n" + "".join(lines))


def stop(process):
    process.send_signal(signal.SIGTERM)
    return process.wait(10)


def test_serve_without_redis_uses_an_embedded_one(tmp_path):
    env = {**os.environ, "HOME": str(tmp_path), "LAMED_CONFIG": str(tmp_path / "none.json")}
    env.pop("LAMED_REDIS_URL", None)
    env.pop("LAMED_API_KEY", None)
    process, url, banner = start_serve(env)
    try:
        assert "embedded redis-server" in banner and "for trying things out" in banner
        api_key = re.search(r"API key: (\S+)", banner).group(1)
        assert http("GET", f"{url}/track?experiment=e&variant=a&event=participate&uuid=1").json()["status"] == "counted"
        body = http("GET", f"{url}/experiments", headers={"x-api-key": api_key}).json()
        assert [x["experiment"] for x in body[1:]] == ["e"]
        redis_port = int(re.search(r"redis://127.0.0.1:(\d+)/0", banner).group(1))
    finally:
        assert stop(process) == 0
    assert (tmp_path / ".lamed" / "redis" / "appendonlydir").exists()  # data kept between runs
    with pytest.raises(OSError):  # and the embedded redis-server is gone with it
        socket.create_connection(("127.0.0.1", redis_port), timeout=1).close()


def test_serve_with_configured_redis(redis_url, tmp_path):
    env = {
        **os.environ,
        "LAMED_REDIS_URL": redis_url,
        "LAMED_API_KEY": "k" * 20,
        "LAMED_CONFIG": str(tmp_path / "c.json"),
    }
    process, url, banner = start_serve(env)
    try:
        assert "embedded" not in banner
        assert redis_url in banner
        assert "k" * 20 not in banner and "generated" not in banner  # a configured key is never printed
        assert "API key: the configured one" in banner
        assert http("GET", f"{url}/health").status == 200
    finally:
        stop(process)


def test_serve_refuses_invalid_config_in_one_line(tmp_path):
    env = {**os.environ, "LAMED_UUID_EXPIRY_SECONDS": "soon", "LAMED_CONFIG": str(tmp_path / "c.json")}
    result = subprocess.run([LAMED, "serve", "--port", str(free_port())], env=env, capture_output=True, text=True)
    assert result.returncode != 0
    assert "uuid_expiry_seconds must be an integer" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
