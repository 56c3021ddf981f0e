"""The counting core: settings, errors, events, the key schema, exactly-once
counting, definitions and the lean Redis connection. Knows nothing of HTTP,
Chalice, redis-py, jinja2, click or boto3 (checked by import-linter)."""
