"""A real ``redis-server`` for tests: Debian's, on a free port of 127.0.0.1, in its own
directory, without persistence, stopped by its PID; it can be stopped and started again
on the same port (for "Redis is down" tests). No fakes."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
WAIT = 20.0  # generous: the machine is shared; tests wait for conditions, never assert timings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ping(port: int, timeout: float = 1.0) -> bool:
    """Whether a Redis answers PING on ``port`` (RESP, by hand: no client library)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(b"*1\r\n$4\r\nPING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """``start()``, ``stop()``, ``restart()``; ``url`` stays the same across them."""

    def __init__(self, port: int | None = None) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="ltredis", dir="/tmp"))
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        if self.proc is not None:
            raise RuntimeError("expected a stopped redis-server, got a running one")
        for _attempt in range(3):
            log = open(self.dir / "redis.log", "ab")  # noqa: SIM115 - redis-server writes it
            self.proc = subprocess.Popen(
                [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                 "--dir", str(self.dir), "--unixsocket", str(self.dir / "redis.sock"), "--unixsocketperm", "700",
                 "--daemonize", "no", "--protected-mode", "yes"],
                stdout=log, stderr=subprocess.STDOUT, cwd=self.dir, start_new_session=True)
            log.close()
            deadline = time.monotonic() + WAIT
            while time.monotonic() < deadline and self.proc.poll() is None:
                if ping(self.port):
                    return self
                time.sleep(0.02)
            self.proc.kill()
            self.proc.wait()
            self.proc = None
            # the port was taken between free_port() and the bind: another, unless it must stay
            tail = (self.dir / "redis.log").read_text(errors="replace")[-400:]
            if "Address already in use" not in tail:
                raise RuntimeError(f"expected redis-server to answer PING on port {self.port}, got: {tail}")
            time.sleep(0.2)
        raise RuntimeError(f"expected port {self.port} free for redis-server, got it in use three times")

    def stop(self) -> None:
        """Stop it by PID (SIGTERM, then SIGKILL) and wait until the port refuses."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=WAIT)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()

    def restart(self) -> RedisServer:
        self.stop()
        return self.start()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
