"""Machines of a cluster on one host, for tests: each a real Runner server (uvicorn, its
own port and runtime directory) joined to the test's redis-server, with a short lease.
A machine is killed or paused as a whole (its server, its supervisor and every process
under it), by PID."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import sys
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RUNNER_TESTS = HERE.parent / "runner"
sys.path.insert(0, str(RUNNER_TESTS))

from rt_procs import ROOT, Server, pid_alive, supervisor_pids, supervisor_request, wait_until  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])

SECRET = "a-cluster-secret-for-tests-only-0123456789"
#: The key prefix of the cluster in Redis (``ClusterConfig.prefix``'s default).
PREFIX = "livetag:"
#: What a session process logs when it learns its session is another's now: from its send
#: gate (``SessionFence``) or from a refused save (``Persistence``), whichever comes first.
FENCED = r"sends nothing more and ends|its session is owned elsewhere now"
#: Seconds of a machine's lease in these tests: a dead machine's sessions move after it.
LEASE = 1.5


def descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        kids = []
        for task in Path(f"/proc/{current}/task").glob("*"):  # a thread's children are listed under it
            try:
                kids += [int(p) for p in (task / "children").read_text().split()]
            except OSError:
                pass
        out.extend(kids)
        todo.extend(kids)
    return out


class Machine:
    """``start()``; ``url``; ``pids()`` (every process of the machine); ``kill()``
    (SIGKILL all of them, frozen first so that none reacts), ``pause()`` / ``resume()``
    (SIGSTOP / SIGCONT all of them); ``terminate()`` (SIGTERM: it drains) and
    ``restart()`` (a new server on the same listening socket); ``stop()``. ``env``:
    more environment for its server."""

    def __init__(self, name: str, redis_url: str, target: str = "cluster_apps:app", kind: str = "uvicorn",
                 relay: bool = False, env: dict[str, str] | None = None) -> None:
        self.name = name
        self.kind, self.target = kind, target
        self.runtime = tempfile.mkdtemp(prefix="ltc", dir="/tmp")
        extra = env or {}
        env = {"LIVETAG_REDIS_URL": redis_url, "LIVETAG_CLUSTER_SECRET": SECRET, "LIVETAG_MACHINE_ID": name,
               "LIVETAG_LEASE": str(LEASE), "LIVETAG_SESSION_SECRET": SECRET,
               "PYTHONPATH": os.pathsep.join([str(HERE), str(RUNNER_TESTS), str(ROOT)])}
        if relay:  # other machines reach its sessions there (livetag.server.cluster.relay)
            env["LIVETAG_RELAY"] = f"127.0.0.1:{free_port()}"
        self.env = {**env, **extra}
        self.server = Server(kind, self.runtime, env=self.env, target=target)
        self.url = self.server.url
        self.paused: list[int] = []

    def start(self) -> Machine:
        """Ready, with its supervisor running (a web worker starts it at its first page)."""
        self.server.ready()
        with urllib.request.urlopen(self.url + "/", timeout=30) as response:
            assert response.status == 200
        return self

    def supervisor(self) -> int:
        [pid] = supervisor_pids(self.runtime)
        return pid

    def request(self, message: dict) -> dict:  # type: ignore[type-arg]
        return supervisor_request(self.runtime, message)

    def pids(self) -> list[int]:
        roots = [self.server.pid, *supervisor_pids(self.runtime)]
        return [p for root in roots for p in [root, *descendants(root)] if pid_alive(p)]

    def pause(self) -> None:
        self.paused = self.pids()
        for pid in self.paused:
            _signal(pid, signal.SIGSTOP)

    def resume(self) -> None:
        for pid in self.paused:
            if pid_alive(pid):
                os.kill(pid, signal.SIGCONT)
        self.paused = []

    def kill(self) -> None:
        pids = self.pids()
        for pid in pids:  # frozen first: no process of it sees another die and reacts
            _signal(pid, signal.SIGSTOP)
        for pid in pids:
            _signal(pid, signal.SIGKILL)
        self.server.popen.wait(10)
        # The listening socket was bound here (rt_procs.bind): closed, its port refuses
        # connections as a dead machine's does (else they would wait in its backlog).
        self.server.sock.close()

    def terminate(self, timeout: float = 60) -> None:
        """SIGTERM to the server (the gunicorn master), as a rolling deploy does; returns
        once every process the machine had has exited (it drained). Its listening socket,
        held here, stays open: connections meanwhile wait in its backlog (``restart``)."""
        before = self.pids()
        self.server.popen.send_signal(signal.SIGTERM)
        self.server.popen.wait(timeout)
        wait_until(lambda: not any(pid_alive(p) for p in before), timeout, f"machine {self.name} to drain and exit")

    def restart(self) -> Machine:
        """A new server on the same listening socket (port), runtime directory and
        environment; returns once it serves (its supervisor started)."""
        self.server = Server(self.kind, self.runtime, sock=self.server.sock, env=self.env, target=self.target)
        self.server.ready()
        with urllib.request.urlopen(self.url + "/_lt/livetag.js", timeout=30) as response:  # no session made
            assert response.status == 200
        return self

    def stop(self) -> None:
        self.resume()
        left = [p for p in self.pids() if p != self.server.pid]
        self.server.stop()
        for pid in left:
            if pid_alive(pid):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(self.runtime, ignore_errors=True)


def saved(client: Any, key: str) -> int:
    """The counter of ``cluster_apps.Clicks`` in session ``key``'s snapshot in Redis
    (``client``: a redis-py client; -1: no snapshot)."""
    import orjson

    raw = client.hget(f"{PREFIX}d:{key}", "d")
    return -1 if raw is None else int(orjson.loads(raw)["app"]["states"]["s"]["count"])


def _signal(pid: int, signum: int) -> None:
    """Send ``signum`` to ``pid``, which may have gone since it was listed (a child
    reaped by its parent before the parent was stopped)."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)
