"""The redis-py a test run uses: CI runs the counting and cluster tests a
second time on the lowest version setup.py allows (.ci/run puts it first on
the path); this says which one ran, and fails if the floor run got another."""

from __future__ import annotations

import os
import re
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parent.parent


def floor() -> str:
    return re.search(r'"redis>=([0-9.]+)"', (ROOT / "setup.py").read_text()).group(1)


def test_the_redis_py_in_use_is_within_what_setup_py_allows():
    version = tuple(int(part) for part in redis.__version__.split(".")[:2])
    assert version >= tuple(int(part) for part in floor().split(".")[:2])
    if "redis-floor" in os.environ.get("PYTHONPATH", ""):
        assert redis.__version__ == floor(), f"the floor run imported redis-py {redis.__version__}"
    print(f"redis-py {redis.__version__} (floor {floor()})")
