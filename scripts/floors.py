#!/usr/bin/env python3
"""The lower bound of each package setup.py's install_requires names, as
``name==version`` lines: the constraints CI installs the floor environment
with (.ci/run). setup.py stays the one place the bounds are written."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def install_requires(setup_py: Path = ROOT / "setup.py") -> list[str]:
    """The install_requires list of setup.py's setup() call, read without running it."""
    for node in ast.walk(ast.parse(setup_py.read_text())):
        if isinstance(node, ast.keyword) and node.arg == "install_requires":
            return [ast.literal_eval(item) for item in node.value.elts]
    raise SystemExit(f"{setup_py}: no install_requires")


def floors(setup_py: Path = ROOT / "setup.py") -> dict[str, str]:
    """Package name -> its lower bound; every requirement must have one (``>=``)."""
    found = {}
    for requirement in install_requires(setup_py):
        match = re.fullmatch(r"([A-Za-z0-9_.\[\]-]+)>=([0-9][0-9.]*)(,.*)?", requirement.replace(" ", ""))
        if match is None:
            raise SystemExit(f"setup.py: {requirement!r} has no lower bound (name>=version)")
        found[re.sub(r"\[.*\]", "", match.group(1))] = match.group(2)
    return found


if __name__ == "__main__":
    sys.stdout.write("".join(f"{name}=={version}\n" for name, version in floors().items()))
