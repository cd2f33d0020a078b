"""The test command's side of the cluster: the lowest-version run pins redis-py's floor."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def load_floors():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("floors", ROOT / "scripts" / "floors.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_floor_run_pins_redis_py_to_its_lowest_version() -> None:
    floors = load_floors()
    assert floors.floors(ROOT / "pyproject.toml", ["test"])["redis"] == "5"
    assert floors.floors(ROOT / "pyproject.toml", ["cluster"])["redis"] == "5"
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "floors.py"), "test", "cluster"],
                         capture_output=True, text=True, check=True).stdout.splitlines()
    assert "redis==5" in out


def test_the_floor_run_includes_the_cluster_tests() -> None:
    assert "tests/cluster" in (ROOT / "scripts" / "floor").read_text()
