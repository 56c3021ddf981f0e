"""The API Gateway REST API, built with plain API calls (no Swagger import:
the emulator the tests use imports only OpenAPI 3, Chalice writes Swagger 2).

Every route is an AWS_PROXY integration to the ``live`` alias, so canary
weights and rollbacks apply to HTTP traffic with no API change. Found by
name and brought in line on each deploy: missing resources and methods are
created, changed ones replaced, ones no longer routed deleted."""

from __future__ import annotations

from typing import Optional

from botocore.exceptions import ClientError

from lamed.deploy.aws import Aws, is_missing, paginate
from lamed.deploy.plan import STAGE, DeployPlan, Names, Throttle
from lamed.deploy.routes import ApiRoute


def find_rest_api(aws: Aws, names: Names) -> Optional[str]:
    for api in paginate(aws.client("apigateway"), "get_rest_apis", "items"):
        if api["name"] == names.base:
            return api["id"]
    return None


def endpoint_url(api_id: str, region: str) -> str:
    return f"https://{api_id}.execute-api.{region}.amazonaws.com/{STAGE}"


def integration_uri(region: str, alias_arn: str) -> str:
    return f"arn:aws:apigateway:{region}:lambda:path/2015-03-31/functions/{alias_arn}/invocations"


def ensure_rest_api(aws: Aws, plan: DeployPlan, alias_arn: str) -> str:
    """Creates or updates the REST API and deploys it to the stage; returns its id."""
    client = aws.client("apigateway")
    api_id = find_rest_api(aws, plan.names)
    if api_id is None:
        api_id = client.create_rest_api(
            name=plan.names.base,
            description="Lamed A/B testing backend (lamed deploy)",
            endpointConfiguration={"types": ["REGIONAL"]},
        )["id"]
    _sync_routes(client, api_id, plan.routes, integration_uri(plan.region, alias_arn))
    _deploy_to_stage(client, api_id)
    return api_id


def _deploy_to_stage(client, api_id: str) -> None:
    """A new deployment on the stage. An existing stage is pointed at it, not
    made again, so its settings (throttling) stay."""
    if not any(stage["stageName"] == STAGE for stage in client.get_stages(restApiId=api_id)["item"]):
        client.create_deployment(restApiId=api_id, stageName=STAGE, description="lamed deploy")
        return
    deployment = client.create_deployment(restApiId=api_id, description="lamed deploy")["id"]
    client.update_stage(
        restApiId=api_id,
        stageName=STAGE,
        patchOperations=[{"op": "replace", "path": "/deploymentId", "value": deployment}],
    )


def ensure_throttling(aws: Aws, api_id: str, throttle: Throttle) -> bool:
    """The stage's throttling for every method (``*/*``); True if it changed."""
    client = aws.client("apigateway")
    current = client.get_stage(restApiId=api_id, stageName=STAGE).get("methodSettings", {}).get("*/*", {})
    if (current.get("throttlingRateLimit"), current.get("throttlingBurstLimit")) == (
        float(throttle.rate_per_second), throttle.burst,
    ):  # fmt: skip
        return False
    client.update_stage(
        restApiId=api_id,
        stageName=STAGE,
        patchOperations=[
            {"op": "replace", "path": "/*/*/throttling/rateLimit", "value": f"{throttle.rate_per_second:g}"},
            {"op": "replace", "path": "/*/*/throttling/burstLimit", "value": str(throttle.burst)},
        ],
    )
    return True


def _sync_routes(client, api_id: str, routes: tuple[ApiRoute, ...], uri: str) -> None:
    resources = {item["path"]: item for item in _resources(client, api_id)}
    wanted_paths = {"/"}
    for route in routes:
        resource = _ensure_path(client, api_id, resources, route.path)
        wanted_paths.update(_with_ancestors(route.path))
        existing = resource.get("resourceMethods") or {}
        for method in route.methods:
            _ensure_method(
                client, api_id, resource["id"], method, route.is_protected(method), uri, existing.get(method)
            )
        for method in set(existing) - set(route.methods):
            client.delete_method(restApiId=api_id, resourceId=resource["id"], httpMethod=method)
    stale = [path for path in resources if path not in wanted_paths]
    for path in sorted(stale, key=lambda p: p.count("/"), reverse=True):
        _delete_resource(client, api_id, resources[path]["id"])


def _resources(client, api_id: str) -> list[dict]:
    return list(paginate(client, "get_resources", "items", restApiId=api_id, embed=["methods"]))


def _with_ancestors(path: str) -> list[str]:
    parts = path.strip("/").split("/")
    return ["/" + "/".join(parts[:depth]) for depth in range(1, len(parts) + 1)]


def _ensure_path(client, api_id: str, resources: dict, path: str) -> dict:
    if path in resources:
        return resources[path]
    parent_path, _, part = path.rstrip("/").rpartition("/")
    parent = _ensure_path(client, api_id, resources, parent_path or "/")
    created = client.create_resource(restApiId=api_id, parentId=parent["id"], pathPart=part)
    resources[path] = created
    return created


def _ensure_method(client, api_id: str, resource_id: str, method: str, key_required: bool, uri: str, current) -> None:
    ids = {"restApiId": api_id, "resourceId": resource_id, "httpMethod": method}
    key_matches = current is not None and current.get("apiKeyRequired", False) == key_required
    integration = (current or {}).get("methodIntegration") or {}
    if key_matches and integration.get("type") == "AWS_PROXY" and integration.get("uri") == uri:
        return
    if not key_matches:
        if current:
            # Recreating the method is the one way to change apiKeyRequired
            # that every API Gateway implementation supports.
            client.delete_method(**ids)
        client.put_method(**ids, authorizationType="NONE", apiKeyRequired=key_required)
    client.put_integration(**ids, type="AWS_PROXY", integrationHttpMethod="POST", uri=uri)


def _delete_resource(client, api_id: str, resource_id: str) -> None:
    try:
        client.delete_resource(restApiId=api_id, resourceId=resource_id)
    except ClientError as error:
        if not is_missing(error):  # already gone with its parent
            raise


def ensure_api_key(aws: Aws, names: Names, api_id: str, value: str) -> str:
    """The API key holding the configured value, in a usage plan on the stage."""
    client = aws.client("apigateway")
    key_id = _ensure_key(client, names.base, value)
    plan_id = _ensure_usage_plan(client, names.base, api_id)
    attached = {key["id"] for key in paginate(client, "get_usage_plan_keys", "items", usagePlanId=plan_id)}
    if key_id not in attached:
        client.create_usage_plan_key(usagePlanId=plan_id, keyId=key_id, keyType="API_KEY")
    return key_id


def _ensure_key(client, name: str, value: str) -> str:
    for key in paginate(client, "get_api_keys", "items", nameQuery=name, includeValues=True):
        if key["name"] != name:
            continue
        if key.get("value") == value and key.get("enabled", True):
            return key["id"]
        client.delete_api_key(apiKey=key["id"])  # a key's value cannot be changed in place
    return client.create_api_key(name=name, value=value, enabled=True)["id"]


def _ensure_usage_plan(client, name: str, api_id: str) -> str:
    for plan in paginate(client, "get_usage_plans", "items"):
        if plan["name"] == name:
            stages = {(stage["apiId"], stage["stage"]) for stage in plan.get("apiStages", [])}
            if (api_id, STAGE) not in stages:
                client.update_usage_plan(
                    usagePlanId=plan["id"],
                    patchOperations=[{"op": "add", "path": "/apiStages", "value": f"{api_id}:{STAGE}"}],
                )
            return plan["id"]
    return client.create_usage_plan(name=name, apiStages=[{"apiId": api_id, "stage": STAGE}])["id"]
