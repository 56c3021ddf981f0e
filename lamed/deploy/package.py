"""The Lambda deployment package: exactly what ``app.handler`` needs at run time.

The zip holds ``app.py``, the ``lamed`` package, ``dashboard_templates/``,
Chalice's runtime module only (``chalice/__init__.py`` + ``chalice/app.py``,
as ``chalice package`` does) and the pure-Python runtime dependencies (redis,
and jinja2 + markupsafe for the dashboard, imported lazily). Compiled
extensions are left out, with one exception: hiredis, the track path's C
reply parser, from PyPI's wheel for the function's architecture and Python
(:mod:`lamed.deploy.wheels`), whatever machine deploys. If that wheel cannot
be had the bundle goes without it, with a warning: everything has a
pure-Python fallback, a little slower. Bytecode for the
deploying interpreter's version is included (the function's runtime is that
version, see :func:`lamed.deploy.plan.lambda_runtime`). Entries have fixed
timestamps and order, so the same sources give the same bytes (and SHA-256):
an unchanged deploy is recognised and publishes no new version.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import py_compile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from lamed.deploy.wheels import WheelError, platform_tag, unpacked_wheel

ROOT = Path(__file__).resolve().parents[2]
# Runtime libraries copied whole (their .py files); their own deps are listed too.
RUNTIME_LIBRARIES = ("redis", "jinja2", "markupsafe")
# Compiled speed-ups, bundled from the wheel for the function's platform (see _native_files).
NATIVE_SPEEDUPS = ("hiredis",)
# Never in the bundle: the operator's tools, and what Lambda does not run.
FORBIDDEN_TOP_LEVEL = ("boto3", "botocore", "click")
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)
# The operator's tools (lamed/cli, lamed/deploy) never ship in the bundle.
_SKIPPED_DIRS = {"__pycache__", "cli", "deploy"}


class PackageError(RuntimeError):
    pass


@dataclass(frozen=True)
class Bundle:
    data: bytes
    names: tuple
    architecture: str = "x86_64"
    warnings: tuple = ()  # what the operator should know: a speed-up left out, and why

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def size(self) -> int:
        return len(self.data)


def build_bundle(architecture: str, root: Path = ROOT) -> Bundle:
    """Zips the app and its runtime dependencies for a function on
    ``architecture`` (x86_64 or arm64), deterministically."""
    with tempfile.TemporaryDirectory() as scratch:
        return _build(architecture, root, Path(scratch))


def _build(architecture: str, root: Path, scratch: Path) -> Bundle:
    entries = dict(_app_files(root, scratch))
    entries.update(_chalice_runtime())
    for library in RUNTIME_LIBRARIES:
        entries.update(_library_files(library))
    warnings = []
    for name in NATIVE_SPEEDUPS:
        try:
            entries.update(dict(_native_files(name, architecture)))
        except WheelError as error:
            warnings.append(f"{name} left out, the function parses Redis replies in Python (slower): {error}")
    contents = {name: path.read_bytes() for name, path in entries.items()}
    for name in [name for name in entries if name.endswith(".py")]:
        contents[importlib.util.cache_from_source(name)] = _bytecode(entries[name], name, scratch)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name in sorted(contents):
            info = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, contents[name])
    return Bundle(buffer.getvalue(), tuple(sorted(contents)), architecture, tuple(warnings))


def _bytecode(source: Path, name: str, scratch: Path) -> bytes:
    """Lambda's code directory is read-only, so without bytecode in the zip
    every cold start compiles every module. Unchecked-hash .pyc files are
    valid whatever the extracted files' timestamps, and deterministic."""
    target = scratch / "module.pyc"
    try:
        py_compile.compile(
            str(source), cfile=str(target), dfile=name, doraise=True,
            invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
        )  # fmt: skip
    except py_compile.PyCompileError as error:
        raise PackageError(f"cannot compile {name}: {error.msg}") from None
    return target.read_bytes()


# The entry point when deploying from an install, which has no app.py (it is
# the checkout's Chalice entry point, not a module of site-packages): the
# handler is all Lambda needs of it.
INSTALLED_ENTRY = '"""Lambda entry point: app.handler."""\n\nfrom lamed.web.lambda_handler import handler\n'


def _app_files(root: Path, scratch: Path) -> Iterator[tuple[str, Path]]:
    app_module = root / "app.py"
    if not app_module.is_file():
        app_module = scratch / "app.py"
        app_module.write_text(INSTALLED_ENTRY)
    yield "app.py", app_module
    yield from _tree(root / "lamed", "lamed", python_only=False, skip_dirs=_SKIPPED_DIRS)
    templates = root / "dashboard_templates"
    if templates.is_dir():
        yield from _tree(templates, "dashboard_templates", python_only=False)


def _chalice_runtime() -> Iterator[tuple[str, Path]]:
    package_dir = _package_dir("chalice")
    for name in ("__init__.py", "app.py"):
        yield f"chalice/{name}", package_dir / name


def _library_files(name: str) -> Iterator[tuple[str, Path]]:
    yield from _tree(_package_dir(name), name, python_only=True)


def _native_files(name: str, architecture: str) -> Iterator[tuple[str, Path]]:
    """The unpacked wheel of ``name`` for Linux on ``architecture`` and this
    CPython (the function's runtime is this interpreter's version, see
    lamed.deploy.plan): its package and its dist-info (whose WHEEL file names the platform)."""
    unpacked = unpacked_wheel(name, architecture)
    found = False
    for top in sorted(unpacked.iterdir()):
        if top.is_dir():
            yield from _tree(top, top.name, python_only=False, keep_native=True)
            found = found or top.name == name
    if not found:
        raise WheelError(f"the {platform_tag(architecture)} wheel of {name} holds no {name} package")


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise PackageError(f"the {name} package is not installed: pip install {name}")
    return Path(next(iter(spec.submodule_search_locations)))


def _tree(
    directory: Path, prefix: str, python_only: bool, skip_dirs: frozenset = frozenset(), keep_native: bool = False
) -> Iterator:
    for path in sorted(directory.rglob("*")):
        relative = path.relative_to(directory)
        if not path.is_file() or any(part in skip_dirs or part == "__pycache__" for part in relative.parts[:-1]):
            continue
        if keep_native and path.suffix == ".so":
            yield f"{prefix}/{relative.as_posix()}", path
            continue
        if path.suffix in (".pyc", ".so", ".pyd", ".c") or (python_only and path.suffix not in (".py", ".typed")):
            continue
        yield f"{prefix}/{relative.as_posix()}", path
