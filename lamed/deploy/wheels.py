"""Compiled speed-ups for the function's platform, whatever machine deploys.

The bundle's hiredis (the track path's C reply parser) is the wheel PyPI
has for the function: Linux on its architecture (``x86_64`` or ``arm64``)
and its CPython, which is this interpreter's version (see
:func:`lamed.deploy.plan.lambda_runtime`). ``pip download --only-binary``
fetches it once; it is kept unpacked under ``~/.cache/lamed/wheels``, so
repeated deploys download nothing and bundle the same bytes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from importlib import metadata
from pathlib import Path

# Lambda's architecture names and the wheels' (manylinux2014: glibc 2.17,
# older than every Lambda Python runtime's).
WHEEL_MACHINES = {"x86_64": "x86_64", "arm64": "aarch64"}
_PIP_SECONDS = 120


class WheelError(RuntimeError):
    """The wheel could not be had; the message says why."""


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "lamed" / "wheels"


def platform_tag(architecture: str) -> str:
    return f"manylinux2014_{WHEEL_MACHINES[architecture]}"


def unpacked_wheel(name: str, architecture: str, python: tuple[int, int] = sys.version_info[:2]) -> Path:
    """The folder holding the unpacked wheel of ``name`` (the version
    installed here) for the function's ``architecture`` and ``python``."""
    version = _installed_version(name)
    abi = "cp{}{}".format(*python)
    target = cache_dir() / f"{name}-{version}-{abi}-{WHEEL_MACHINES[architecture]}"
    if not target.is_dir():
        _download_and_unpack(f"{name}=={version}", architecture, python, target)
    return target


def _installed_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        raise WheelError(f"{name} is not installed here: pip install {name}") from None


def _download_and_unpack(requirement: str, architecture: str, python: tuple[int, int], target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".download-") as scratch:
        wheel = _download(requirement, architecture, python, Path(scratch))
        unpacked = Path(scratch) / "unpacked"
        with zipfile.ZipFile(wheel) as archive:
            archive.extractall(unpacked)
        try:
            os.replace(unpacked, target)  # atomic: a concurrent deploy sees all of it or nothing
        except OSError:
            if not target.is_dir():
                raise
            shutil.rmtree(unpacked)  # another process unpacked the same wheel first


def _download(requirement: str, architecture: str, python: tuple[int, int], directory: Path) -> Path:
    abi = "cp{}{}".format(*python)
    command = [
        sys.executable, "-m", "pip", "download", requirement, "--only-binary=:all:", "--no-deps",
        "--platform", platform_tag(architecture), "--python-version", "{}.{}".format(*python),
        "--implementation", "cp", "--abi", abi, "--dest", str(directory), "--quiet", "--disable-pip-version-check",
    ]  # fmt: skip
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=_PIP_SECONDS)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise WheelError(f"pip download {requirement} failed: {error}") from None
    wheels = sorted(directory.glob("*.whl"))
    if done.returncode != 0 or not wheels:
        detail = " ".join((done.stderr or done.stdout).split())[-300:]
        raise WheelError(f"pip download {requirement} for {platform_tag(architecture)} {abi} failed: {detail}")
    return wheels[0]
