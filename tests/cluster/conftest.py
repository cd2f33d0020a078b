"""Fixtures of the cluster tests: a real ``redis-server`` per test (``redis_server``),
stopped by its PID afterwards, and helper processes (``spawn``) stopped the same way."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from machines import Machine
from redis_server import REDIS_SERVER, RedisServer

HERE = Path(__file__).resolve().parent

if not os.access(REDIS_SERVER, os.X_OK):
    pytest.skip(f"no redis-server at {REDIS_SERVER} (scripts/bootstrap installs Debian's)", allow_module_level=True)


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A running redis-server on a free port: ``.url``, ``.stop()``, ``.start()``,
    ``.restart()`` (same port)."""
    server = RedisServer().start()
    yield server
    server.close()


@pytest.fixture
def machines(redis_server: RedisServer) -> Iterator[Callable[..., Machine]]:
    """``machines(name, target=..., kind="uvicorn" | "gunicorn", relay=False, env=None, redis_url=None)``:
    a started Runner "machine" in the cluster of the test's redis-server
    (``machines.Machine``; ``redis_url``: reach it another way, a ``partition.Partition``
    say), stopped by PID after the test."""
    started: list[Machine] = []

    def start(name: str, target: str = "cluster_apps:app", kind: str = "uvicorn", relay: bool = False,
              env: dict[str, str] | None = None, redis_url: str | None = None) -> Machine:
        machine = Machine(name, redis_url or redis_server.url, target, kind, relay, env)
        started.append(machine)
        return machine.start()

    yield start
    for machine in started:
        machine.stop()


@pytest.fixture
def spawn() -> Iterator[Callable[..., subprocess.Popen[str]]]:
    """``spawn(*args)``: ``python tests/cluster/ct_procs.py *args`` with pipes, stopped by
    PID after the test (SIGCONT first, in case the test left it stopped)."""
    started: list[subprocess.Popen[str]] = []

    def start(*args: str) -> subprocess.Popen[str]:
        proc = subprocess.Popen([sys.executable, str(HERE / "ct_procs.py"), *args], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGCONT)
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
