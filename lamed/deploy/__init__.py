"""Packaging and AWS wiring for ``lamed deploy``: the Lambda bundle, the
function with immutable versions and a ``live`` alias (canary, promote,
rollback), the API Gateway REST API with its API key, and the warm-up rule.

Nothing here is imported by the Lambda: boto3 stays on the operator's side."""
