"""The client's JavaScript unit tests (``node --test`` in this folder, on happy-dom) and
the check that the committed bundle ``livetag/client/livetag.js`` is what its modules
build to, run from pytest so that the README's test command covers them.

``scripts/bootstrap`` installs Node.js and this folder's pinned packages (``npm ci``).
Without them the tests are skipped on a developer's machine, and fail in CI (``CI`` set).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

HERE = Path(__file__).parent


def node(*args: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("node")
    if exe is None or not (HERE / "node_modules").is_dir():
        missing = "node" if exe is None else "tests/js/node_modules (npm ci)"
        if os.environ.get("CI"):
            pytest.fail(f"expected {missing} in CI: scripts/bootstrap installs it")
        pytest.skip(f"{missing} missing: run scripts/bootstrap")
    version = subprocess.run([exe, "--version"], capture_output=True, text=True, check=True).stdout.strip()
    if int(version.lstrip("v").split(".")[0]) < 20:  # happy-dom 21 and node:test's mock timers
        (pytest.fail if os.environ.get("CI") else pytest.skip)(f"expected Node.js 20 or later, got {version}")
    return subprocess.run([exe, *args], cwd=HERE, capture_output=True, text=True, timeout=300, check=False)


def test_javascript_unit_tests_pass() -> None:
    run = node("--test")
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert "# fail 0" in run.stdout and "# pass 0" not in run.stdout


def test_the_bundle_is_built_from_the_modules() -> None:
    run = node("build.mjs", "--check")
    assert run.returncode == 0, run.stderr + "\n(after editing livetag/client/src, run scripts/build-client)"
