"""A real ``haproxy`` (Debian's) in front of test "machines": round-robin without
stickiness, health checks every 200 ms (a killed machine leaves the rotation), WebSocket
and SSE tunnels allowed to last; on a free port of 127.0.0.1, stopped by its PID."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from redis_server import WAIT, free_port

HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"

CONFIG = """global
    maxconn 1024
defaults
    mode http
    option http-server-close
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    timeout tunnel 1h
frontend front
    bind 127.0.0.1:{port}
    default_backend machines
backend machines
    balance roundrobin
{servers}
"""


class HAProxy:
    """``HAProxy([port, ...]).start()``; ``url``; ``stop()``. ``backups``: ports that
    get traffic only while every one of ``backends`` is down (haproxy's ``backup``).
    ``config``: a whole configuration to run instead (``from_recipe``); ``states()``:
    what its stats socket says of each server (when the configuration has one)."""

    def __init__(self, backends: list[int], port: int | None = None, backups: list[int] | tuple[int, ...] = (),
                 config: str | None = None) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="lthap", dir="/tmp"))
        self.port = port or free_port()
        self.backends = backends
        self.backups = list(backups)
        self.config = config
        self.proc: subprocess.Popen[bytes] | None = None

    @classmethod
    def from_recipe(cls, recipe: str, backends: list[int]) -> HAProxy:
        """The deployment recipe's configuration (``docs/cluster.md``) as written, with
        its addresses made this host's: the frontend's ``bind :80`` on a free port, the
        servers ``10.0.0.11:8000``... on ``backends`` (in order), the stats socket in a
        directory of its own. Raises ``AssertionError`` when the recipe no longer has
        what is replaced (the test then tests nothing of it)."""
        proxy = cls(backends)
        replaced = {"bind :80\n": f"bind 127.0.0.1:{proxy.port}\n",
                    "/run/haproxy/admin.sock": str(proxy.stats)}
        replaced.update({f"10.0.0.1{n + 1}:8000\n": f"127.0.0.1:{port}\n" for n, port in enumerate(backends)})
        for old, new in replaced.items():
            assert recipe.count(old) == 1, f"expected {old!r} once in the recipe's haproxy configuration"
            recipe = recipe.replace(old, new)
        proxy.config = recipe
        return proxy

    @property
    def stats(self) -> Path:
        return self.dir / "admin.sock"

    def states(self) -> dict[str, int]:
        """``{server name: srv_op_state}`` of the backend ``machines`` (2: up), from the
        stats socket; ``{}`` when it does not answer (haproxy busy: ask again)."""
        data = b""
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(WAIT)
                sock.connect(str(self.stats))
                sock.sendall(b"show servers state machines\n")
                while chunk := sock.recv(65536):
                    data += chunk
        except OSError:
            return {}
        if b"# be_id" not in data:
            return {}
        lines = data.decode().splitlines()
        header = next(line for line in lines if line.startswith("# be_id"))[2:].split()
        rows = [dict(zip(header, line.split(), strict=False)) for line in lines[1:]
                if line and not line.startswith("#")]
        return {row["srv_name"]: int(row["srv_op_state"]) for row in rows if "srv_name" in row}

    def up(self, name: str) -> bool:
        return self.states().get(name) == 2

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> HAProxy:
        servers = "\n".join(f"    server m{n} 127.0.0.1:{port} check inter 200ms fall 1 rise 1"
                            for n, port in enumerate(self.backends))
        servers += "".join(f"\n    server b{n} 127.0.0.1:{port} check inter 200ms fall 1 rise 1 backup"
                           for n, port in enumerate(self.backups))
        config = self.dir / "haproxy.cfg"
        config.write_text(self.config or CONFIG.format(port=self.port, servers=servers))
        checked = subprocess.run([HAPROXY, "-c", "-q", "-f", str(config)], capture_output=True, text=True)
        if checked.returncode:
            raise RuntimeError(f"expected a valid haproxy configuration, got: {checked.stderr or checked.stdout}")
        log = open(self.dir / "haproxy.log", "ab")  # noqa: SIM115 - haproxy writes it
        self.proc = subprocess.Popen([HAPROXY, "-db", "-f", str(config)], stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        log.close()
        deadline = time.monotonic() + WAIT
        while self.proc.poll() is None and time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                time.sleep(0.02)
        output = (self.dir / "haproxy.log").read_text(errors="replace")[-400:]
        self.stop()
        raise RuntimeError(f"expected haproxy to listen on port {self.port}, got: {output}")

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=WAIT)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
        elif proc is not None:
            proc.wait()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
