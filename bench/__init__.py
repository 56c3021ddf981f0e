"""Benchmarks: figures beside the original Lamed 0.4.3, not pass/fail tests.

Run ``.venv/bin/python -m bench`` (``--quick`` for a short run)."""
