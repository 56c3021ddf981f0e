"""Chalice's conventions hold: ``chalice local`` with the committed
``.chalice/config.json`` serves the whole app against the shell's
``LAMED_REDIS_URL``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from conftest import API_KEY, ROOT, http

from lamed.cli.embedded import free_port


def test_the_config_holds_no_settings_of_lamed():
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    assert set(config["stages"]) == {"dev", "prod"}
    assert "environment_variables" not in json.dumps(config)  # they would override the shell's LAMED_*


def test_chalice_local_tracks_and_reads_back(redis_url, tmp_path):
    port = free_port()
    env = {**os.environ, "LAMED_REDIS_URL": redis_url, "LAMED_API_KEY": API_KEY, "LAMED_CONFIG": str(tmp_path / "x")}
    chalice = Path(sys.executable).parent / "chalice"
    server = subprocess.Popen(
        [str(chalice), "local", "--port", str(port), "--stage", "dev"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if http("GET", url + "/health", timeout=1).status == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline and server.poll() is None, "chalice local did not start"
            time.sleep(0.2)
        tracked = http("GET", url + "/track?experiment=local&variant=A&event=participate&uuid=u1")
        assert tracked.status == 200 and tracked.json() == {"status": "counted"}
        detail = http("GET", url + "/experiments/local", headers={"x-api-key": API_KEY}).json()
        assert detail["variants"] == [{"label": "A", "trials": 1}]
    finally:
        server.terminate()
        server.wait(timeout=10)
