"""The web worker's side of the supervisor: find it (or start it, exactly once across
workers), and ask it things over its control socket."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import multiprocessing
import os
import select
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from ...errors import SupervisorUnavailable
from . import bridge, paths
from .config import SupervisorConfig

log = logging.getLogger("livetag.server.processes.supervisor_client")

#: Seconds a worker waits for a supervisor it started to be ready (a cold start imports
#: livetag and the app twice: the supervisor, then its fork server).
START_TIMEOUT = 60.0
CONTROL_TIMEOUT = 30.0


def server_anchor() -> int:
    """The process whose life is the server's: the gunicorn master for a gunicorn
    worker, the parent of a multiprocessing-spawned worker (``uvicorn --workers``), else
    this process (plain uvicorn). The supervisor ends when it ends."""
    if "gunicorn.arbiter" in sys.modules:
        return os.getppid()
    parent = multiprocessing.parent_process()
    if parent is not None and parent.pid:
        return parent.pid
    return os.getpid()


@dataclass(frozen=True)
class SupervisorClient:
    """The RPC client of a running supervisor, as a web worker knows it: where its
    control socket and session sockets are, and the keys it shares with web workers.
    (Not ``livetag.clients.Client``, a browser tab of a session.)"""

    base: Path
    dir: Path
    pid: int
    anchor: int
    path_key: bytes
    cookie_secret: str

    @property
    def control_path(self) -> str:
        return str(self.dir / "ctl")

    def session_name(self, base: str, session_id: str) -> str:
        return paths.session_name(self.path_key, base, session_id)

    def session_path(self, name: str) -> str:
        return str(self.dir / "s" / name)

    async def request(self, message: dict[str, Any], timeout: float = CONTROL_TIMEOUT) -> dict[str, Any]:
        """One control request. Raises ``SupervisorUnavailable`` when the supervisor
        cannot be reached."""
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_unix_connection(self.control_path), timeout)
        except (TimeoutError, OSError) as exc:
            raise SupervisorUnavailable(f"expected the session supervisor at {self.control_path}, got {exc!r}") from exc
        try:
            writer.write(bridge.encode(message))
            return await asyncio.wait_for(bridge.read_frame(reader), timeout)
        except (TimeoutError, OSError, asyncio.IncompleteReadError, bridge.FrameError) as exc:
            raise SupervisorUnavailable(f"the session supervisor did not answer: {exc!r}") from exc
        finally:
            writer.close()


def _hello(control: Path) -> dict[str, Any] | None:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    try:
        s.connect(str(control))
        s.sendall(bridge.encode({"op": "hello"}))
        head = _recv_exact(s, bridge.HEAD.size)
        size, raw = bridge.HEAD.unpack(head)
        reply: dict[str, Any] = orjson.loads(_recv_exact(s, size + raw)[:size])
        return reply
    except (OSError, ValueError, orjson.JSONDecodeError):
        return None
    finally:
        s.close()


def _recv_exact(s: socket.socket, n: int) -> bytes:
    chunks = []
    while n:
        chunk = s.recv(n)
        if not chunk:
            raise ConnectionError("closed")
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def attach(base: Path, anchor: int) -> SupervisorClient | None:
    """The supervisor named by ``base/current.json`` if it is alive and serves the same
    server (same anchor), else ``None``."""
    current = paths.read_json(base / "current.json")
    if current is None or current.get("anchor") != anchor:
        return None
    directory = base / str(current.get("instance", ""))
    keys = paths.read_json(directory / "keys.json")
    hello = _hello(directory / "ctl") if keys is not None else None
    if hello is None or hello.get("anchor") != anchor or keys is None:
        return None
    return SupervisorClient(base, directory, int(hello["pid"]), anchor, bytes.fromhex(keys["path_key"]),
                    str(keys["cookie_secret"]))


def start_or_attach(identity: str, anchor: int, config: SupervisorConfig, root: str | None = None) -> SupervisorClient:
    """Attach to the supervisor of this server, starting it first if there is none.
    Blocking (call it in a thread). Two workers doing this at once start one supervisor
    (``flock`` on the base directory's lock file). Raises ``SupervisorUnavailable``."""
    base = paths.base_dir(identity, root)
    try:
        os.makedirs(base.parent, 0o700, exist_ok=True)  # a runtime_dir deleted under us
        paths.ensure_private_dir(base)
    except OSError as exc:
        raise SupervisorUnavailable(f"expected a private directory at {base}, got {exc!r}") from exc
    instance = attach(base, anchor)
    if instance is not None:
        return instance
    with paths.locked(base):
        instance = attach(base, anchor)
        if instance is not None:
            return instance
        if anchor != os.getpid() and not _alive(anchor):
            raise SupervisorUnavailable(f"the server process {anchor} is gone: not starting a supervisor for it")
        paths.sweep_stale_instances(base)
        ready = _spawn(base, anchor, config)
        paths.write_json(base / "current.json", {"pid": ready["pid"], "anchor": anchor, "instance": ready["instance"]})
        instance = attach(base, anchor)
        if instance is None:
            raise SupervisorUnavailable("the session supervisor started but does not answer")
        return instance


def reattach(stale: SupervisorClient, wait: float) -> SupervisorClient | None:
    """The supervisor ``stale`` again, if it still runs and answers within ``wait``
    seconds (it makes its files again when they were deleted: see
    ``Supervisor._repair_files``); ``None`` when it is gone. Blocking (call it in a
    thread). Waiting for it, rather than starting another one at once, keeps its
    sessions."""
    deadline = time.monotonic() + wait
    while _alive(stale.pid):
        instance = attach(stale.base, stale.anchor)
        if instance is not None:
            return instance
        if time.monotonic() > deadline:
            return None
        time.sleep(0.1)
    return None


def _spawn(base: Path, anchor: int, config: SupervisorConfig) -> dict[str, Any]:
    read_fd, write_fd = os.pipe()
    payload = dataclasses.replace(config, base=str(base), anchor=anchor, ready_fd=write_fd, sys_path=tuple(sys.path))
    command = [sys.executable, "-c", "from livetag.server.processes.bootstrap import main; main()"]
    try:
        process = subprocess.Popen(command, stdin=subprocess.PIPE, pass_fds=(write_fd,), start_new_session=True,
                                   close_fds=True)
    finally:
        os.close(write_fd)
    threading.Thread(target=process.wait, name="livetag-supervisor-reaper", daemon=True).start()
    try:
        assert process.stdin is not None
        process.stdin.write(payload.to_json())
        process.stdin.close()
        deadline = time.monotonic() + START_TIMEOUT
        data = b""
        while not data.endswith(b"\n"):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([read_fd], [], [], remaining)[0]:
                raise SupervisorUnavailable(f"expected the session supervisor to start within {START_TIMEOUT:g} s")
            chunk = os.read(read_fd, 4096)
            if not chunk:
                raise SupervisorUnavailable(f"the session supervisor exited at start (code {process.wait()})")
            data += chunk
    finally:
        os.close(read_fd)
    log.info("started the session supervisor (pid %d)", process.pid)
    started: dict[str, Any] = orjson.loads(data)
    return started


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # an existence check: no signal is delivered
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
