"""The session process's listening unix socket. Web workers connect to it for two things:
a relayed ASGI connection (``bridge``: an HTTP request, an SSE stream, a long-poll, or a
WebSocket relayed frame by frame), or the hand-over of a browser's WebSocket (``direct``:
the first frame comes with the browser's socket as ``SCM_RIGHTS`` ancillary data).

The first bytes of each connection are therefore read here with ``recvmsg`` (a transport's
plain ``recv`` would close a passed descriptor unseen); a connection that brought none
becomes a ``bridge.Served`` fed those bytes, one that brought one is adopted.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from typing import Any

from . import bridge, direct

log = logging.getLogger("livetag.server.processes.listener")

_READ = 1 << 16
#: An adopt frame is a scope (the handshake's headers) and a few settings: far smaller.
MAX_ADOPT_FRAME = 1 << 20
#: Seconds without accepting after ``accept`` failed for want of descriptors or memory.
ACCEPT_RETRY_SECONDS = 1.0


class Listener:
    """Accept the connections of the listening unix socket ``sock`` in the running loop
    and serve each (``bridge.Served``, or ``direct.adopt``) with ``app``. ``close()``
    stops accepting (connections being served go on) and closes ``sock``."""

    def __init__(self, sock: socket.socket, app: Callable[..., Awaitable[None]],
                 on_scope: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.sock, self.app, self.on_scope = sock, app, on_scope
        self._loop = asyncio.get_running_loop()
        sock.setblocking(False)
        self._loop.add_reader(sock.fileno(), self._accept)
        self._closed = False

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._loop.remove_reader(self.sock.fileno())
            self.sock.close()

    def _resume(self) -> None:
        if not self._closed:
            self._loop.add_reader(self.sock.fileno(), self._accept)

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                # Out of descriptors or memory: the listening socket stays readable, so stop
                # watching it for a moment (as asyncio's servers do) rather than spin; the
                # worker's connection waits in the backlog meanwhile.
                log.warning("process %d could not accept a connection (%s): retrying in %g s", os.getpid(), exc,
                            ACCEPT_RETRY_SECONDS)
                self._loop.remove_reader(self.sock.fileno())
                self._loop.call_later(ACCEPT_RETRY_SECONDS, self._resume)
                return
            conn.setblocking(False)
            _First(self, conn)


class _First:
    """One accepted connection until its first frame tells what it is."""

    __slots__ = ("buffer", "conn", "fds", "listener")

    def __init__(self, listener: Listener, conn: socket.socket) -> None:
        self.listener, self.conn = listener, conn
        self.buffer = bytearray()
        self.fds: list[int] = []
        listener._loop.add_reader(conn.fileno(), self._readable)

    def _readable(self) -> None:
        try:
            data, fds, _, _ = socket.recv_fds(self.conn, _READ, 4)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._drop()
            return
        self.fds += fds
        self.buffer += data
        if not self.fds:
            if data:
                self._serve()
            else:
                self._drop()  # closed before a byte
            return
        buffer, head = self.buffer, bridge.HEAD.size
        size = bridge.HEAD.unpack_from(buffer)[0] if len(buffer) >= head else 0  # until the head is in: 0
        if size > MAX_ADOPT_FRAME:
            log.warning("a connection passed a socket with a frame of %d bytes (at most %d): refused",
                        size, MAX_ADOPT_FRAME)
            self._drop()
        elif len(buffer) >= head + size:
            self._adopt(bytes(buffer[head:head + size]))
        elif not data:
            log.warning("a connection passed a socket and ended inside its frame: refused")
            self._drop()

    def _stop_reading(self) -> None:
        self.listener._loop.remove_reader(self.conn.fileno())

    def _drop(self) -> None:
        self._stop_reading()
        for fd in self.fds:
            os.close(fd)
        self.conn.close()

    def _serve(self) -> None:
        self._stop_reading()
        listener, initial = self.listener, bytes(self.buffer)
        task = listener._loop.create_task(_served(self.conn, listener.app, listener.on_scope, initial))
        bridge.SERVING.add(task)
        task.add_done_callback(bridge.SERVING.discard)

    def _adopt(self, payload: bytes) -> None:
        self._stop_reading()
        self.conn.close()  # the worker is done with it: the frame and socket are here
        fd, *extra = self.fds
        for other in extra:
            os.close(other)
        try:
            message = bridge.decode(payload, b"")
        except Exception as exc:
            os.close(fd)
            log.warning("a connection passed a socket without a valid adopt frame: %r", exc)
            return
        try:
            direct.adopt(fd, message, self.listener.app, self.listener.on_scope)  # closes fd if it raises
        except Exception as exc:  # not an adoption: the socket is closed, the process goes on
            log.warning("a connection passed a socket without a valid adopt frame: %r", exc)


async def _served(conn: socket.socket, app: Callable[..., Awaitable[None]],
                  on_scope: Callable[[dict[str, Any]], None] | None, initial: bytes) -> None:
    try:
        await asyncio.get_running_loop().connect_accepted_socket(
            lambda: bridge.Served(app, on_scope, initial), sock=conn)
    except OSError as exc:
        conn.close()
        log.info("a relayed connection was gone before it was served: %s", exc)
