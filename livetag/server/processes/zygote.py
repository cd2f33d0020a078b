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
from collections.abc import Callable
from typing import Any, NoReturn

import orjson

log = logging.getLogger("livetag.server.processes.zygote")

_STATUS = struct.Struct("!q")
#: Makes (entry point, arguments) of a process from (config, priority, socket, shared doubles).
Entry = Callable[[Any, "int | None", socket.socket, Any], "tuple[Callable[..., None], tuple[Any, ...]]"]


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
    from .process import SharedField, SpareConfig, spare_main
    from .process import main as session_main

    entries: dict[str, Entry] = {
        "spare": lambda config, priority, conn, shared: (spare_main, (SpareConfig(config, priority), conn, shared,
                                                                      lifeline)),
        "session": lambda config, priority, conn, shared: (session_main, (config, conn, shared, lifeline)),
    }
    lifeline = socket.socket(fileno=lifeline_fd)
    size = len(SharedField)
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
            child = _fork(data, fds, flags, statuses, entries, size)
            if child is not None:  # in the child
                for own in (*statuses.values(), wake_r, wake_w):
                    os.close(own)
                requests.close()
                _child(*child)


def _fork(data: bytes, fds: list[int], flags: int, statuses: dict[int, int], entries: dict[str, Entry],
          size: int) -> tuple[Callable[..., None], tuple[Any, ...]] | None:
    """Fork for one request. In the zygote: ``None`` (the child's pid sent); in the
    child: its entry point and arguments. The arguments are made before the fork, so
    that a child starts with them built (not writing the fork server's pages to build
    them), and the fork server drops its copies."""
    from .forkserver import SharedDoubles
    from .process import ProcessConfig

    try:
        if len(fds) != 3 or flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC):
            raise ValueError(f"expected 3 descriptors, got {len(fds)}")
        request = orjson.loads(data)
        make = entries.get(request["entry"])
        if make is None:
            raise ValueError(f"expected an entry among {sorted(entries)}, got {request['entry']!r}")
        config = ProcessConfig.from_json(request["config"].encode())
        priority = request.get("priority")
        priority = None if priority is None else int(priority)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        log.error("the fork server got a request that is not one (%s)", exc)
        for fd in fds:
            os.close(fd)  # the status pipe's end: the supervisor reads end of stream
        return None
    conn_fd, mem_fd, status_w = fds
    try:
        shared = SharedDoubles(size, mem_fd)  # closes mem_fd
    except OSError as exc:
        log.error("the fork server could not map a process's shared doubles (%s)", exc)
        os.close(conn_fd)
        os.close(status_w)
        return None
    conn = socket.socket(fileno=conn_fd)
    target, args = make(config, priority, conn, shared)
    pid = os.fork()
    if pid == 0:
        os.close(status_w)
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        return target, args
    conn.close()
    del args, shared  # the fork server's mapping goes, the child's stays
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


def _child(target: Callable[..., None], args: tuple[Any, ...]) -> NoReturn:
    code = 1
    try:
        target(*args)
        code = 0  # pragma: no cover - both entry points end with os._exit
    except BaseException:
        log.exception("process %d could not start", os.getpid())
    finally:
        os._exit(code)
