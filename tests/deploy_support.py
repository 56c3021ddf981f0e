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


class AwsCalls:
    """Every AWS call the deploy code makes, with its parameters; and what
    moto 5.2.6 leaves out of Lambda: it takes a function's ``LoggingConfig``
    and forgets it. Lambda keeps it on the function and, from publishing on,
    on each version; this answers it back the same way, so idempotence and
    new versions can be tested. Installed on every client ``lamed.deploy.aws.Aws``
    makes (``install(monkeypatch)``)."""

    def __init__(self) -> None:
        self.calls: list = []
        self.logging: dict = {}  # (function, "$LATEST" or version) -> LoggingConfig

    def install(self, monkeypatch) -> None:
        from lamed.deploy import aws as aws_module

        original = aws_module.Aws.client
        calls = self

        def client(self_, service: str):
            made = self_._clients.get(service)
            if made is None:
                made = original(self_, service)
                service_id = made.meta.service_model.service_id.hyphenize()
                made.meta.events.register(f"provide-client-params.{service_id}", calls._record)
                if service == "lambda":
                    made.meta.events.register("after-call.lambda", calls._answer_logging)
            return made

        monkeypatch.setattr(aws_module.Aws, "client", client)

    def _record(self, params: dict, model, **_: object) -> None:
        self.calls.append((model.name, dict(params)))
        if model.name in ("CreateFunction", "UpdateFunctionConfiguration") and "LoggingConfig" in params:
            name = params["FunctionName"]
            self.logging[name, "$LATEST"] = {**params["LoggingConfig"], "LogGroup": f"/aws/lambda/{name}"}

    def _answer_logging(self, parsed: dict, model, **_: object) -> None:
        if model.name == "PublishVersion" and "Version" in parsed:
            latest = self.logging.get((parsed["FunctionName"], "$LATEST"))
            if latest:
                self.logging[parsed["FunctionName"], parsed["Version"]] = latest
        for config in parsed.get("Versions") or [parsed]:
            found = self.logging.get((config.get("FunctionName"), config.get("Version")))
            if found:
                config["LoggingConfig"] = dict(found)

    def made(self, *operations: str) -> list:
        """The parameters of each call of these operations, in order."""
        return [params for name, params in self.calls if name in operations]

    def clear(self) -> None:
        self.calls.clear()
