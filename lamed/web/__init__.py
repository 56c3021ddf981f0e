"""The HTTP shells: the Lambda handler, the Chalice app and its routes, the
WSGI adapter, replies and the OpenAPI document."""
