"""livetag's fork server, the zygote's side: a single-threaded process that imported
everything once (``preload``: livetag, Starlette, uvloop, the app, a warm-up, then
``gc.freeze()``) and forks session and spare processes on request.

Started by the supervisor (``forkserver.ForkServer``) with one end of a
``SOCK_SEQPACKET`` socket pair (requests, see ``forkserver``) and the lifeline every
child inherits. It answers ``b"ready"`` once preloaded, then forks one child per request
and reports each child's pid and, once reaped (``SIGCHLD``), its exit code on that
child's status pipe. A child closes everything of the zygote's (the request socket, the
other children's status pipes, the signal wake-up pipe) and calls its entry point
(``process.spare_main`` or ``process.main``) at once: no bootstrap of its own, so that
it writes as few of the shared pages as possible. The zygote ends when the supervisor's
end of the request socket closes; its children do not depend on it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import signal
import socket
import struct
from typing import Any, NoReturn

import orjson

log = logging.getLogger("livetag.server.processes.zygote")

_STATUS = struct.Struct("!q")
ENTRIES = ("spare", "session")


def main(requests_fd: int, lifeline_fd: int) -> NoReturn:
    """Entry point of the zygote (see the module docstring); never returns."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C in a terminal is for the server
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    requests = socket.socket(fileno=requests_fd)
    try:
        from . import preload  # noqa: F401 - the import is the preload (and ends with gc.freeze())
        from .forkserver import MAX_REQUEST_BYTES
    except BaseException:
        log.exception("the fork server could not preload")
        os._exit(1)
    wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)  # a Python handler: the wake-up fd is written
    statuses: dict[int, int] = {}  # pid -> write end of its status pipe
    poller = select.poll()
    poller.register(requests, select.POLLIN)
    poller.register(wake_r, select.POLLIN)
    requests.send(b"ready")
    while True:
        try:
            events = poller.poll()
        except InterruptedError:  # pragma: no cover - PEP 475 retries
            continue
        for fd, _ in events:
            if fd == wake_r:
                with contextlib.suppress(BlockingIOError):
                    while os.read(wake_r, 512):
                        pass
                _reap(statuses)
                continue
            try:
                data, fds, flags, _ = socket.recv_fds(requests, MAX_REQUEST_BYTES, 3)
            except OSError:
                data, fds, flags = b"", [], 0
            if not data:
                os._exit(0)  # the supervisor is gone (or closed us): children live on
            child = _fork(data, fds, flags, statuses)
            if child is not None:  # in the child
                entry, config, priority, conn_fd, mem_fd = child
                for own in (*statuses.values(), wake_r, wake_w):
                    os.close(own)
                requests.close()
                _child(entry, config, priority, conn_fd, mem_fd, lifeline_fd)


def _fork(data: bytes, fds: list[int], flags: int,
          statuses: dict[int, int]) -> tuple[str, Any, Any, int, int] | None:
    """Fork for one request. In the zygote: ``None`` (the child's pid sent); in the
    child: what it runs."""
    from .process import ProcessConfig

    try:
        if len(fds) != 3 or flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC):
            raise ValueError(f"expected 3 descriptors, got {len(fds)}")
        request = orjson.loads(data)
        entry = request["entry"]
        if entry not in ENTRIES:
            raise ValueError(f"expected an entry among {ENTRIES}, got {entry!r}")
        config = ProcessConfig.from_json(request["config"].encode())
        priority = request.get("priority")
        priority = None if priority is None else int(priority)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        log.error("the fork server got a request that is not one (%s)", exc)
        for fd in fds:
            os.close(fd)  # the status pipe's end: the supervisor reads end of stream
        return None
    conn_fd, mem_fd, status_w = fds
    pid = os.fork()
    if pid == 0:
        os.close(status_w)
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        return entry, config, priority, conn_fd, mem_fd
    os.close(conn_fd)
    os.close(mem_fd)
    try:
        os.write(status_w, _STATUS.pack(pid))
    except OSError:  # the supervisor gave up on it: it is reaped all the same
        os.close(status_w)
        return None
    statuses[pid] = status_w
    return None


def _reap(statuses: dict[int, int]) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        fd = statuses.pop(pid, None)
        if fd is not None:
            with contextlib.suppress(OSError):
                os.write(fd, _STATUS.pack(os.waitstatus_to_exitcode(status)))
            os.close(fd)


def _child(entry: str, config: Any, priority: int | None, conn_fd: int, mem_fd: int, lifeline_fd: int) -> NoReturn:
    code = 1
    try:
        from .forkserver import SharedDoubles
        from .process import SharedField, SpareConfig, spare_main
        from .process import main as session_main

        shared = SharedDoubles(len(SharedField), mem_fd)
        conn = socket.socket(fileno=conn_fd)
        lifeline = socket.socket(fileno=lifeline_fd)
        if entry == "spare":
            spare_main(SpareConfig(config, priority), conn, shared, lifeline)
        else:
            session_main(config, conn, shared, lifeline)
        code = 0  # pragma: no cover - both end with os._exit
    except BaseException:
        log.exception("process %d could not start", os.getpid())
    finally:
        os._exit(code)
