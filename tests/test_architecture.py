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
    assert "2 kept, 0 broken" in done.stdout


def test_the_core_type_checks_strictly():
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "lamed/core"], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stdout + done.stderr
