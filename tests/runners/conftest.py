"""Fixtures for the runner tests: real processes, each stopped by its PID afterwards.

- ``run_process(args, env=..., cwd=...)``: starts a process whose stdout+stderr are
  collected by a thread (``proc.output``, ``proc.wait_for(regex)``); stopped at teardown.
- ``xvfb``: a private X server on a display number Xvfb picks itself (``-displayfd``).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator, Sequence

import pytest

from .procs import PYTHON, Process


@pytest.fixture
def run_process() -> Iterator[Callable[..., Process]]:
    started: list[Process] = []

    def start(args: Sequence[str], **kwargs: object) -> Process:
        proc = Process(args, **kwargs)  # type: ignore[arg-type]
        started.append(proc)
        return proc

    yield start
    for proc in reversed(started):
        proc.stop()


@pytest.fixture
def livetag_cli() -> list[str]:
    """The command line that runs ``livetag`` with this interpreter."""
    return [PYTHON, "-m", "livetag"]


@pytest.fixture(scope="module")
def xvfb() -> Iterator[str]:
    """``DISPLAY`` value of a private Xvfb (1280x1024), stopped by PID afterwards."""
    read_end, write_end = os.pipe()
    proc = subprocess.Popen(["Xvfb", "-displayfd", str(write_end), "-screen", "0", "1280x1024x24",
                             "-nolisten", "tcp"], pass_fds=(write_end,), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    os.close(write_end)
    try:
        number = b""
        while not number.endswith(b"\n"):
            chunk = os.read(read_end, 16)  # Xvfb writes the number once it accepts connections
            if not chunk:
                raise AssertionError(f"expected Xvfb to report its display, it exited with {proc.poll()}")
            number += chunk
        yield f":{number.decode().strip()}"
    finally:
        os.close(read_end)
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
