"""The supervisor's control socket: the RPC web workers use to reach it.

Length-prefixed JSON frames (``bridge.read_frame`` / ``bridge.encode``), one request, one
reply, any number per connection. Requests are ``{"op": ..., ...}``: ``page`` (find or
create the process of a session for a page load), ``revive`` (start the process of a
snapshotted session a transport asks for after a restart; in a cluster, after claiming it
here), ``owner`` (in a cluster: who owns a session, see
``livetag.server.cluster.ownership``), ``status`` (why a session is gone),
``hello`` (who answers: pid, anchor, instance), ``list`` (sessions and spares),
``shutdown`` (from the server process only), ``pubsub`` (from a session process: the
connection becomes its publish/subscribe link, see ``processes.pubsub``) and ``store``
(from a session process: the connection becomes its store link, see
``processes.store_link``). Replies are the handler's dicts, or
``{"error": "full"}`` (``sessions.ServerFull``), ``{"error": "failed", "msg": ...}`` (any
other exception, logged with its traceback) and ``{"error": "unknown", "msg": ...}`` for
an unknown op. The client side is ``supervisor_client.SupervisorClient.request``.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any, Protocol

from . import bridge
from .sessions import ServerFull

log = logging.getLogger("livetag.server.processes.supervisor")


class ControlHandler(Protocol):
    """What answers the control requests (the ``Supervisor``)."""

    async def page(self, request: dict[str, Any]) -> dict[str, Any]: ...

    def status(self, name: str) -> dict[str, Any]: ...

    async def revive(self, request: dict[str, Any]) -> dict[str, Any]: ...

    def hello(self) -> dict[str, Any]: ...

    def listing(self) -> dict[str, Any]: ...

    async def stop_from(self, anchor: int) -> dict[str, Any]: ...

    async def owner(self, request: dict[str, Any]) -> dict[str, Any]: ...

    async def pubsub(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None: ...

    async def store_link(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None: ...


class ControlServer:
    """Serves ``handler`` on a unix socket; ``ino`` is the socket file's inode (to notice
    it replaced or deleted)."""

    def __init__(self, handler: ControlHandler) -> None:
        self.handler = handler
        self.server: asyncio.AbstractServer | None = None
        self.ino = 0
        self._connections: set[asyncio.Task[None]] = set()

    async def open(self, path: str) -> None:
        """(Re)open the control socket at ``path``. Raises ``OSError``."""
        self.close()
        self.server = await asyncio.start_unix_server(self._connection, path=path)
        self.ino = os.stat(path).st_ino

    def close(self) -> None:
        """Stop accepting (connections being served go on: ``open`` re-makes the socket
        under live pubsub and store links)."""
        if self.server is not None:
            self.server.close()

    async def aclose(self) -> None:
        """Stop accepting, cancel the connections being served (pubsub links last), and
        wait until their handlers have ended."""
        tasks = list(self._connections)
        self.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
            task.add_done_callback(self._connections.discard)
        try:
            while True:
                try:
                    request = await bridge.read_frame(reader)
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                if request.get("op") == "pubsub":  # from now on a session process's pubsub link
                    await self.handler.pubsub(reader, writer)
                    return
                if request.get("op") == "store":  # from now on a session process's store link
                    await self.handler.store_link(reader, writer)
                    return
                try:
                    reply = await self.answer(request)
                except ServerFull:
                    reply = {"error": "full"}
                except Exception as exc:
                    log.exception("control request %r failed", request.get("op"))
                    reply = {"error": "failed", "msg": f"{type(exc).__name__}: {exc}"}
                writer.write(bridge.encode(reply))
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def answer(self, request: dict[str, Any]) -> dict[str, Any]:
        op = request.get("op")
        if op == "page":
            return await self.handler.page(request)
        if op == "revive":
            return await self.handler.revive(request)
        if op == "owner":
            return await self.handler.owner(request)
        if op == "status":
            return self.handler.status(str(request["name"]))
        if op == "hello":
            return self.handler.hello()
        if op == "list":
            return self.handler.listing()
        if op == "shutdown":
            return await self.handler.stop_from(int(request.get("anchor", -1)))
        return {"error": "unknown", "msg": f"expected a known op, got {op!r}"}
