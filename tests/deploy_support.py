"""Helpers for the deploy and CLI tests: a moto server on loopback, and API
Gateway proxy events for invoking the Lambda handler directly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request

from lamed.cli.embedded import free_port
from lamed.web import gateway


class MotoServer:
    """``python -m moto.server`` on a free loopback port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            # AWS managed policies (AWSLambdaBasicExecutionRole) exist in IAM only with this.
            env={**os.environ, "MOTO_IAM_LOAD_MANAGED_POLICIES": "true"},
        )
        self._wait_until_ready()
        # moto runs function code only in Docker; without it, invoke answers
        # with what a test queued (queue_lambda_answers), else the payload.
        self._post("/moto-api/config", {"lambda": {"use_docker": False}})

    def _post(self, path: str, document: dict) -> None:
        request = urllib.request.Request(
            f"{self.url}{path}", data=json.dumps(document).encode(), method="POST",
            headers={"Content-Type": "application/json"},
        )  # fmt: skip
        urllib.request.urlopen(request, timeout=10).close()

    def queue_lambda_answers(self, *answers: object) -> None:
        """The next invocations' answers, in order (as JSON)."""
        self._post("/moto-api/static/lambda-simple/response", {"results": [json.dumps(a) for a in answers]})

    def _wait_until_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{self.url}/moto-api/", timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("moto server did not start")

    def reset(self) -> None:
        urllib.request.urlopen(urllib.request.Request(f"{self.url}/moto-api/reset", method="POST"), timeout=10).close()

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def aws_environment(endpoint: str, home: str) -> dict:
    """Dummy credentials and a region for moto; no real AWS file or metadata is read."""
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": f"{home}/aws-config",
        "AWS_SHARED_CREDENTIALS_FILE": f"{home}/aws-credentials",
    }


def proxy_event(method: str, resource: str, path: str, query=None, headers=None, params=None) -> dict:
    """An API Gateway REST proxy event, as Lambda receives it behind stage ``api``."""
    event = gateway.proxy_event(method, resource, path, query=query, headers=headers, path_params=params)
    event["requestContext"]["path"] = f"/api{path}"
    return event
