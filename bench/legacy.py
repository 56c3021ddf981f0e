"""The original Lamed 0.4.3, installed into a bench-only virtualenv.

Installed with ``--no-deps``: its Lambda package holds only lamed.py,
config.py, logger.py and the vendored redis 3.4.1 (no click, no boto3), and
the track path needs nothing else. Its functions read ``config.json`` from the
working directory, so each run gets a temporary directory holding one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

VERSION = "0.4.3"
DEFAULT_VENV = Path(__file__).resolve().parent / ".lamed-venv"
UUID_EXPIRY_SECONDS = 86400


@dataclass
class LegacyLamed:
    python: Path
    vendor: Path
    workdir: Path

    def environment(self, base: dict) -> dict:
        """Its vendored redis client first on the path, as on Lambda. That
        client imports ``distutils``: the standard library's, as on Lambda,
        not the setuptools shim a virtualenv installs (which would add about
        0.15 s to its cold start here)."""
        bundle = os.pathsep.join([str(self.vendor), str(self.vendor.parent.parent)])  # for python -I -S
        return {**base, "PYTHONPATH": str(self.vendor), "SETUPTOOLS_USE_DISTUTILS": "stdlib", "BENCH_PATH": bundle}


def ensure_installed(venv: Path = DEFAULT_VENV) -> Path:
    python = venv / "bin" / "python"
    if not python.exists():
        print(f"bench: creating {venv} with lamed=={VERSION}", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    installed = subprocess.run(
        [str(python), "-c", "import importlib.metadata as m; print(m.version('lamed'))"],
        capture_output=True,
        text=True,
    )
    if installed.stdout.strip() != VERSION:
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "--no-deps", f"lamed=={VERSION}"],
            check=True,
        )
    return python


def prepare(redis_host: str, redis_port: int, venv: Path = DEFAULT_VENV) -> LegacyLamed:
    python = ensure_installed(venv)
    workdir = Path(tempfile.mkdtemp(prefix="lamed043-"))
    package = subprocess.run(
        [str(python), "-c", "import importlib.util as u; print(u.find_spec('lamed').submodule_search_locations[0])"],
        capture_output=True,
        text=True,
        check=True,
        cwd=workdir,  # not the repo, whose own lamed package would shadow it
    ).stdout.strip()
    config = {"redis": {"host": redis_host, "port": redis_port}, "uuid_expiry_seconds": UUID_EXPIRY_SECONDS}
    (workdir / "config.json").write_text(json.dumps(config))
    return LegacyLamed(python, Path(package) / "vendor", workdir)
