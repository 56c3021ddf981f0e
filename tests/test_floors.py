"""The packages a test run uses against setup.py's install_requires. CI runs
much of the suite a second time in an environment with every one of them at
exactly its lower bound (.ci/run sets LAMED_FLOOR_RUN=1 there): this fails if
that run got another version, and any other run if a version is out of bounds."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os

import pytest
from conftest import ROOT
from packaging.version import Version

_spec = importlib.util.spec_from_file_location("floors", ROOT / "scripts" / "floors.py")
floors_script = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(floors_script)
FLOORS = floors_script.floors()
FLOOR_RUN = os.environ.get("LAMED_FLOOR_RUN") == "1"


def test_every_requirement_has_a_floor_and_the_list_is_read_whole():
    assert len(FLOORS) == len(floors_script.install_requires()) >= 9
    assert {"redis", "hiredis", "chalice", "boto3"} <= set(FLOORS)


@pytest.mark.parametrize("name", sorted(FLOORS))
def test_the_installed_version_is_the_floor_in_the_floor_run_and_within_bounds_elsewhere(name):
    installed = Version(importlib.metadata.version(name))
    floor = Version(FLOORS[name])
    print(f"{name} {installed} (floor {floor})")
    if FLOOR_RUN:
        assert installed == floor, f"the floor run has {name} {installed}, setup.py's floor is {floor}"
    else:
        assert installed >= floor, f"{name} {installed} is below setup.py's floor {floor}"


def test_the_floor_script_rejects_a_requirement_without_a_lower_bound(tmp_path):
    setup_py = tmp_path / "setup.py"
    setup_py.write_text('setup(install_requires=["redis>=6.0.0", "click"])\n')
    with pytest.raises(SystemExit, match="'click' has no lower bound"):
        floors_script.floors(setup_py)
