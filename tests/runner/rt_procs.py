"""Real servers for the Runner tests: uvicorn or gunicorn in their own processes, on a
socket the test binds (so the port is known and can be bound again after a crash), each
stopped by its PID. No mocks."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
PYTHON = sys.executable
WAIT = 30.0  # generous: the machine is shared; tests wait for conditions, never assert timings


def bind(port: int = 0) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # inherited by accepted sockets
    sock.bind(("127.0.0.1", port))
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def wait_until(condition, timeout: float = WAIT, what: str = "a condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"expected {what} within {timeout:g} s")
        time.sleep(0.05)


def pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return False


def children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


class Server:
    """``kind``: ``"uvicorn"`` or ``"gunicorn"`` serving ``runner_apps:app`` (or
    ``target``) on ``sock``; ``runtime`` is its XDG_RUNTIME_DIR."""

    def __init__(self, kind: str, runtime: str, *, sock: socket.socket | None = None, env: dict[str, str] | None = None,
                 args: list[str] | None = None, target: str = "runner_apps:app", workers: int = 2) -> None:
        self.kind = kind
        self.sock = sock or bind()
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.runtime = runtime
        fd = self.sock.fileno()
        if kind == "uvicorn":
            command = [PYTHON, "-m", "uvicorn", target, "--fd", str(fd), "--log-level", "info"]
        else:
            command = [PYTHON, "-m", "gunicorn", "-w", str(workers), "-k", "uvicorn.workers.UvicornWorker",
                       "--preload", "--bind", f"fd://{fd}", "--graceful-timeout", "5", "--log-level", "info", target]
        command += args or []
        full_env = {**os.environ, "PYTHONUNBUFFERED": "1", "XDG_RUNTIME_DIR": runtime,
                    "PYTHONPATH": os.pathsep.join([str(HERE), str(ROOT)]), **(env or {})}
        self.popen = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                      env=full_env, cwd=str(HERE), pass_fds=(fd,))
        self.pid = self.popen.pid
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.extra_pids: list[int] = []  # processes it left behind that the test must stop

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for raw in self.popen.stdout:
            self.lines.append(raw.decode(errors="replace").rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, pattern: str, timeout: float = WAIT, count: int = 1) -> None:
        regex = re.compile(pattern)
        wait_until(lambda: len(regex.findall(self.output)) >= count, timeout,
                   f"{count} x {pattern!r} in the server output:\n{self.output[-3000:]}")

    def ready(self) -> Server:
        if self.kind == "uvicorn":
            self.wait_for("Application startup complete")
        else:
            self.wait_for("Application startup complete", count=int(self._workers()))
        return self

    def _workers(self) -> int:
        args = self.popen.args
        return int(args[args.index("-w") + 1]) if "-w" in args else 1  # type: ignore[union-attr]

    def worker_pids(self) -> list[int]:
        return children(self.pid)

    def stop(self, timeout: float = 20) -> int | None:
        """SIGTERM, then SIGKILL: this process (and leftovers we know of) by PID."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(10)
        for pid in self.extra_pids:
            if pid_alive(pid):
                os.kill(pid, signal.SIGKILL)
        self._reader.join(5)
        self.sock.close()
        return self.popen.returncode


def supervisor_pids(runtime: str) -> list[int]:
    """Pids of the supervisors that have an instance in ``runtime`` (from their files)."""
    import orjson

    found = []
    for keys in Path(runtime).glob("lt-*/*/keys.json"):
        try:
            found.append(int(orjson.loads(keys.read_bytes())["pid"]))
        except (OSError, ValueError, KeyError):
            pass
    return found


def supervisor_request(runtime: str, message: dict) -> dict:  # type: ignore[type-arg]
    """One control request to the (single) supervisor of ``runtime``, as a web worker
    makes it (length-prefixed JSON over its control socket)."""
    import orjson

    from livetag.server.processes import bridge

    [keys] = list(Path(runtime).glob("lt-*/*/keys.json"))
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(WAIT)
        s.connect(str(keys.parent / "ctl"))
        s.sendall(bridge.encode(message))
        data, head = b"", bridge.HEAD.size
        while len(data) < head or len(data) < head + sum(bridge.HEAD.unpack(data[:head])):
            chunk = s.recv(65536)
            if not chunk:
                raise ConnectionError("the supervisor closed the connection")
            data += chunk
        size, _ = bridge.HEAD.unpack(data[:head])
        return orjson.loads(data[head:head + size])


def spares(runtime: str, ready: bool = True) -> list[int]:
    """Pids of the spare processes of ``runtime``'s supervisor (only those whose start
    is over, with ``ready``)."""
    reply = supervisor_request(runtime, {"op": "list"})
    return [s["pid"] for s in reply["spares"] if s["state"] == "WAITING" and (s["ready"] or not ready)]
