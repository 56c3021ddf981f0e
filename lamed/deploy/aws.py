"""boto3 sessions and clients, and AWS failures turned into one-line errors.

boto3 is imported here only: the Lambda never loads this module."""

from __future__ import annotations

import contextlib
from functools import cached_property
from typing import Any, Iterator, Optional


class AwsError(RuntimeError):
    """An AWS call failed; the message is one line with a hint."""


class Aws:
    """One session in one region; clients are made once and reused."""

    def __init__(self, region: str) -> None:
        import boto3

        self.region = region
        self.session = boto3.Session(region_name=region)
        self._clients: dict[str, Any] = {}

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self.session.client(service)
        return self._clients[service]

    @cached_property
    def account_id(self) -> str:
        return self.client("sts").get_caller_identity()["Account"]


def resolve_region(configured: Optional[str]) -> str:
    """The configured region, else the AWS default one (AWS_REGION, ~/.aws/config)."""
    import boto3

    region = configured or boto3.Session().region_name
    if not region:
        raise AwsError("no AWS region: run `lamed configure --region eu-west-1` or set AWS_REGION")
    return region


@contextlib.contextmanager
def aws_errors() -> Iterator[None]:
    """Re-raises botocore's exceptions as AwsError with a one-line message."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

    try:
        yield
    except NoCredentialsError:
        raise AwsError(
            "no AWS credentials found: run `aws configure` or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
        ) from None
    except NoRegionError:
        raise AwsError("no AWS region: run `lamed configure --region eu-west-1` or set AWS_REGION") from None
    except ClientError as error:
        detail = error.response.get("Error", {})
        code = detail.get("Code", "Error")
        message = " ".join(str(detail.get("Message") or error).split())[:300]
        raise AwsError(f"AWS refused {error.operation_name}: {code}: {message}") from None
    except BotoCoreError as error:
        raise AwsError(f"AWS call failed: {' '.join(str(error).split())}") from None


def paginate(client: Any, operation: str, key: str, **params: Any) -> Iterator[dict]:
    for page in client.get_paginator(operation).paginate(**params):
        yield from page.get(key, [])


def is_missing(error: Exception) -> bool:
    """True for the 'does not exist' errors of Lambda, IAM and API Gateway."""
    code = getattr(error, "response", {}).get("Error", {}).get("Code", "")
    return code in ("ResourceNotFoundException", "NoSuchEntity", "NotFoundException")
