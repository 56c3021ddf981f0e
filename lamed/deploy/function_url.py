"""/track's front door: a Lambda function URL on the ``live`` alias.

A function URL costs nothing beyond the function's own requests and
duration, where API Gateway's REST API costs $3.50 per million requests;
/track is public and unauthenticated, so it needs none of the REST API's keys
or usage plans. Being on the alias, versions, canary weights and rollbacks
apply to it unchanged.

Auth type NONE needs a resource policy that lets anyone invoke the URL:
``lambda:InvokeFunctionUrl`` for auth type NONE and, as Lambda asks of
function URLs made since October 2025, ``lambda:InvokeFunction`` when invoked
through a function URL. CORS comes from the function (``PUBLIC_CORS`` in
:mod:`lamed.web.replies`, the same headers the REST API's /track sends), so
the URL has no CORS configuration of its own: two would double the headers,
which browsers refuse.
"""

from __future__ import annotations

from typing import Optional

from botocore.exceptions import ClientError

from lamed.deploy.aws import Aws, is_missing
from lamed.deploy.plan import ALIAS, Names

AUTH_TYPE = "NONE"
URL_STATEMENT = "lamed-function-url"
INVOKE_STATEMENT = "lamed-function-url-invoke"


def find_function_url(aws: Aws, names: Names) -> Optional[dict]:
    """The URL's configuration on ``live``, or None."""
    try:
        return aws.client("lambda").get_function_url_config(FunctionName=names.function, Qualifier=ALIAS)
    except ClientError as error:
        if is_missing(error):
            return None
        raise


def ensure_function_url(aws: Aws, names: Names) -> tuple[str, str]:
    """The URL on ``live`` with auth type NONE, no CORS of its own, and its
    policy. Returns (url, "created" | "updated" | "unchanged")."""
    client = aws.client("lambda")
    current = find_function_url(aws, names)
    if current is None:
        current = client.create_function_url_config(FunctionName=names.function, Qualifier=ALIAS, AuthType=AUTH_TYPE)
        outcome = "created"
    elif current.get("AuthType") != AUTH_TYPE or current.get("Cors"):
        current = client.update_function_url_config(
            FunctionName=names.function, Qualifier=ALIAS, AuthType=AUTH_TYPE, Cors={}
        )
        outcome = "updated"
    else:
        outcome = "unchanged"
    added = _allow_public_invoke(aws, names)
    return current["FunctionUrl"], "updated" if added and outcome == "unchanged" else outcome


def _allow_public_invoke(aws: Aws, names: Names) -> bool:
    """The two statements a public URL needs; True if any was added."""
    client = aws.client("lambda")
    present = _statement_ids(aws, names)
    wanted = {
        URL_STATEMENT: {"Action": "lambda:InvokeFunctionUrl", "FunctionUrlAuthType": AUTH_TYPE},
        INVOKE_STATEMENT: {"Action": "lambda:InvokeFunction", "InvokedViaFunctionUrl": True},
    }
    missing = [sid for sid in wanted if sid not in present]
    for sid in missing:
        client.add_permission(
            FunctionName=names.function, Qualifier=ALIAS, StatementId=sid, Principal="*", **wanted[sid]
        )
    return bool(missing)


def remove_function_url(aws: Aws, names: Names) -> bool:
    """Deletes the URL and its policy statements; True if there was any."""
    client = aws.client("lambda")
    removed = False
    if find_function_url(aws, names) is not None:
        client.delete_function_url_config(FunctionName=names.function, Qualifier=ALIAS)
        removed = True
    present = _statement_ids(aws, names)
    for sid in (URL_STATEMENT, INVOKE_STATEMENT):
        if sid in present:
            client.remove_permission(FunctionName=names.function, Qualifier=ALIAS, StatementId=sid)
            removed = True
    return removed


def _statement_ids(aws: Aws, names: Names) -> set[str]:
    import json

    try:
        policy = aws.client("lambda").get_policy(FunctionName=names.function, Qualifier=ALIAS)["Policy"]
    except ClientError as error:
        if is_missing(error):
            return set()
        raise
    return {statement.get("Sid") for statement in json.loads(policy).get("Statement", [])}
