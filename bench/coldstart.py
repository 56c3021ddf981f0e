"""Cold start: importing the Lambda track path in a fresh interpreter.

Only the import is timed (interpreter start-up is the same for both and not
ours to change). The first import of each side is thrown away so both are
timed with their bytecode caches written.

Two ways, each the same for both sides: in each side's virtualenv (``site``
runs, so modules its ``.pth`` files import are loaded before the timer), and
as on Lambda: ``python -I -S``, nothing on ``sys.path`` but the standard
library and the paths a Lambda bundle would hold (``BENCH_PATH``). A third
figure times the import and the first tracked event (connection included),
so work put off from import to the first request is counted too.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path
from typing import Callable, Optional

HEAVY_MODULES = ("boto3", "botocore", "jinja2", "click", "chalice", "redis")

_TIMER = """
import json, os, sys, time
sys.path[:0] = [path for path in os.environ.get("BENCH_PATH", "").split(os.pathsep) if path]
EVENT = json.loads(os.environ.get("BENCH_EVENT", "null"))
started = time.perf_counter()
{statement}
seconds = time.perf_counter() - started
heavy = [name for name in {heavy!r} if name in sys.modules]
print(json.dumps({{"seconds": seconds, "heavy": heavy}}))
"""


def time_import(
    python: Path, statement: str, cwd: Path, env: dict, lambda_like: bool = False, event: Optional[Callable] = None
) -> dict:
    """Times ``statement``; ``event(uuid)`` gives it ``EVENT``, new each run."""
    code = _TIMER.format(statement=statement, heavy=HEAVY_MODULES)
    if event is not None:
        env = {**env, "BENCH_EVENT": json.dumps(event(uuid.uuid4().hex))}
    flags = ["-I", "-S"] if lambda_like else []
    done = subprocess.run(
        [str(python), *flags, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def import_times(
    python: Path, statement: str, cwd: Path, env: dict, runs: int, lambda_like: bool = False, event=None
) -> dict:
    time_import(python, statement, cwd, env, lambda_like, event)  # writes the bytecode caches
    samples = [time_import(python, statement, cwd, env, lambda_like, event) for _ in range(runs)]
    return {"seconds": [sample["seconds"] for sample in samples], "heavy": samples[-1]["heavy"]}


def heavy_note(heavy: Optional[list]) -> str:
    return "imports " + ", ".join(heavy) if heavy else "imports none of " + ", ".join(HEAVY_MODULES)
