"""Fixtures of the Runner tests: a short private runtime directory per test (unix socket
paths are limited to 108 bytes) and real servers stopped by PID."""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from rt_procs import Server

if not sys.platform.startswith("linux"):
    pytest.skip("the Runner's process tests use /proc and pidfds (Linux)", allow_module_level=True)


@pytest.fixture
def runtime() -> Iterator[str]:
    path = tempfile.mkdtemp(prefix="lt", dir="/tmp")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def serve(runtime: str) -> Iterator[Callable[..., Server]]:
    """``serve("uvicorn" | "gunicorn", env={...}, args=[...])``: a ready server, stopped
    (by PID) after the test. Its log's end is printed then: pytest shows it when the test
    failed (a flaky failure on CI is explained by nothing else)."""
    started: list[Server] = []

    def start(kind: str = "uvicorn", **kwargs: object) -> Server:
        server = Server(kind, kwargs.pop("runtime", runtime), **kwargs)  # type: ignore[arg-type]
        started.append(server)
        return server.ready()

    yield start
    for server in started:
        server.stop()
        print(f"--- {server.kind} on port {server.port}, its log's end:\n{server.output[-6000:]}")
    for server in started:
        # A failed warm-up is only logged (sessions do without), but it is a bug.
        assert "warm-up failed" not in server.output, server.output[-6000:]
