"""Cold start: importing the Lambda track path in a fresh interpreter.

Only the import is timed (interpreter start-up is the same for both and not
ours to change). The first import of each side is thrown away so both are
timed with their bytecode caches written.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Optional

HEAVY_MODULES = ("boto3", "botocore", "jinja2", "click")

_TIMER = """
import json, sys, time
started = time.perf_counter()
{statement}
seconds = time.perf_counter() - started
heavy = [name for name in {heavy!r} if name in sys.modules]
print(json.dumps({{"seconds": seconds, "heavy": heavy}}))
"""


def time_import(python: Path, statement: str, cwd: Path, env: dict) -> dict:
    code = _TIMER.format(statement=statement, heavy=HEAVY_MODULES)
    done = subprocess.run([str(python), "-c", code], cwd=cwd, env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def import_times(python: Path, statement: str, cwd: Path, env: dict, runs: int) -> dict:
    time_import(python, statement, cwd, env)  # writes the bytecode caches
    samples = [time_import(python, statement, cwd, env) for _ in range(runs)]
    return {"seconds": [sample["seconds"] for sample in samples], "heavy": samples[-1]["heavy"]}


def heavy_note(heavy: Optional[list]) -> str:
    return "imports " + ", ".join(heavy) if heavy else "imports none of " + ", ".join(HEAVY_MODULES)
