"""The `lamed` command: never in the Lambda bundle."""
