"""The layout holds: imports point one way (import-linter's contracts in
``.importlinter``), and the core type-checks under ``mypy --strict``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def test_imports_point_one_way_and_the_core_stays_lean():
    done = subprocess.run([str(BIN / "lint-imports")], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "4 kept, 0 broken" in done.stdout
    layers = (ROOT / ".importlinter").read_text().split("layers =", 1)[1].split("\n\n", 1)[0].split()
    assert layers == [
        "lamed.cli",
        "lamed.deploy",
        "lamed.web",
        "lamed.dashboard",
        "lamed.stats",
        "lamed.store",
        "lamed.core",
    ]
    assert "never from the \ntop-level app.py" in done.stdout or "never from the top-level app.py" in done.stdout


def test_the_entry_point_is_not_installed_and_lamed_never_loads_it():
    """app.py is the checkout's Chalice entry point: setup.py installs no
    top-level module, and no code of lamed/ loads it by name either (which
    import-linter cannot see)."""
    assert "py_modules" not in (ROOT / "setup.py").read_text()
    for source in (ROOT / "lamed").rglob("*.py"):
        text = source.read_text()
        assert 'import_module("app")' not in text and "from app import" not in text, source


def test_the_dashboard_holds_views_charts_login_and_the_snippet_only():
    modules = sorted(path.stem for path in (ROOT / "lamed" / "dashboard").glob("*.py"))
    assert modules == ["__init__", "auth", "charts", "snippet", "views"]


def test_the_core_and_the_statistics_type_check_strictly():
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "lamed/core", "lamed/stats"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
